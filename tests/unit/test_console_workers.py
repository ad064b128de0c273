from infra.core.settings import Settings
from ingress.console.workers import worker_addresses


def test_the_console_scrapes_the_workers_run_here_then_the_ones_named():
    settings = Settings(worker_processes=2, worker_web_port=18010, dashboard_worker_urls="http://10.0.0.5:18010/")

    assert worker_addresses(settings) == [
        "http://127.0.0.1:18010",
        "http://127.0.0.1:18011",
        "http://10.0.0.5:18010",
    ]


def test_a_console_apart_from_the_workers_scrapes_only_the_ones_named():
    settings = Settings(
        worker_processes=2,
        dashboard_local_workers=False,
        dashboard_worker_urls="http://workers:18010,http://workers:18011",
    )

    assert worker_addresses(settings) == ["http://workers:18010", "http://workers:18011"]
