"""The clients bench's pure parts: choosing clients, driving a client, and the figures and their summary."""

import asyncio
import math
from collections.abc import Mapping

import orjson
import pytest

from bench import clients
from bench.clients import Measured, chosen, figures, summary
from bench.clients_load import BODY, HEADERS, ClientRun, drive, warm_up
from bench.stack import BenchError
from bench.stats import ratio
from streams.errors import TransientDeliveryError

pytestmark = pytest.mark.unit


def _measured(client: str, requests: int, errors: int, wall_s: float, cpu_s: float) -> Measured:
    run = ClientRun.of(client, requests, [1.0, 2.0, 3.0], errors, wall_s, cpu_s)
    return Measured(run, server_cpu_s=0.0, other_cores=0.5)


def test_the_body_is_a_json_lead_of_about_500_bytes():
    assert 450 <= len(BODY) <= 550
    assert orjson.loads(BODY)["marketing_consent"] is True


def test_chosen_keeps_the_order_given_and_skips_a_client_that_cannot_run(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(clients, "missing", lambda name: "not installed" if name == "httpx_aiohttp" else None)

    assert chosen("httpx, aiohttp,httpx_aiohttp") == (["httpx", "aiohttp"], {"httpx_aiohttp": "not installed"})


@pytest.mark.parametrize("text", ["requests", "aiohttp,urllib3", " , "])
def test_chosen_refuses_unknown_or_no_names(text: str):
    with pytest.raises(BenchError, match="--clients"):
        chosen(text)


def test_drive_sends_each_key_once_and_counts_failures_and_non_2xx_answers_as_errors():
    sent: list[str] = []

    async def send(headers: Mapping[str, str]) -> int:
        await asyncio.sleep(0)
        key = headers["Idempotency-Key"]
        sent.append(key)
        assert headers["Authorization"] == HEADERS["Authorization"]
        if key == "k-3":
            raise TransientDeliveryError("bench: the connection was reset")
        return 503 if key == "k-5" else 201

    latencies, errors = asyncio.run(drive(send, (f"k-{i}" for i in range(10)), concurrency=4))

    assert sorted(sent) == sorted(f"k-{i}" for i in range(10))
    assert (len(latencies), errors) == (9, 2)


def test_a_client_run_gives_requests_per_wall_second_and_cpu_per_request():
    run = ClientRun.of("aiohttp", 2000, [float(v) for v in range(100, 0, -1)], 0, wall_s=0.5, cpu_s=0.4)

    assert (run.per_s, run.cpu_ms_per_request) == (4000.0, 0.2)
    assert (run.p50_ms, run.p99_ms) == (50.0, 99.0)


def test_figures_name_each_clients_figures_and_charge_the_warm_up_to_the_server():
    measured = {"aiohttp": Measured(ClientRun.of("aiohttp", 900, [1.0], 0, 1.0, 0.18), 0.1, 0.25)}

    report = figures(measured, concurrency=50)

    assert warm_up(50) == 100
    assert report["aiohttp_throughput_per_s"] == 900.0
    assert report["aiohttp_server_cpu_ms_per_request"] == pytest.approx(0.1)
    assert report["aiohttp_other_cores"] == 0.25


def test_summary_takes_medians_sums_errors_and_leads_with_aiohttp_against_httpx():
    runs = [
        figures(
            {
                "aiohttp": _measured("aiohttp", 4000, errors, wall, 0.8),
                "httpx": _measured("httpx", 4000, 0, 16.0, 16.0),
            },
            50,
        )
        for errors, wall in ((0, 1.0), (2, 2.0), (0, 4.0))
    ]

    report = summary(runs, ["aiohttp", "httpx"])

    assert list(report)[:6] == ["throughput_per_s", "p50_ms", "p99_ms", "lost", "baseline_ratio", "cpu_ratio"]
    assert report["throughput_per_s"] == report["aiohttp_throughput_per_s"] == 2000.0
    assert (report["lost"], report["aiohttp_errors"]) == (2, 2)
    assert report["baseline_ratio"] == pytest.approx(8.0)
    assert report["cpu_ratio"] == pytest.approx(20.0)


def test_summary_without_httpx_has_no_ratios_and_ratio_of_nothing_is_nan():
    report = summary([figures({"aiohttp": _measured("aiohttp", 100, 0, 1.0, 0.1)}, 1)], ["aiohttp"])

    assert math.isnan(report["baseline_ratio"]) and math.isnan(report["cpu_ratio"])
    assert math.isnan(ratio(1.0, 0.0)) and math.isnan(ratio(None, 1.0))
