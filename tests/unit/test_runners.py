import json
from importlib import metadata

import pytest
import structlog

from infra.cli import runners
from infra.core.settings import Settings
from streams.errors import KafkaAccessRefusedError, UnsupportedRuntimeError

pytestmark = pytest.mark.unit


def test_workers_refuse_an_untested_faust_runtime_before_starting_anything(monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr(runners, "run_worker", lambda *args: started.append(args))
    monkeypatch.setattr(runners, "supervise", lambda *args, **kwargs: started.append(args) or 0)
    real_version = metadata.version
    monkeypatch.setattr(
        metadata, "version", lambda package: "0.16.0" if package == "aiokafka" else real_version(package)
    )

    with pytest.raises(UnsupportedRuntimeError, match="aiokafka"):
        runners.serve_workers(Settings(state_dir=tmp_path, worker_processes=2))

    assert started == []


def test_workers_start_on_the_tested_faust_runtime(monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr(
        runners,
        "supervise",
        lambda target, args, name, status_path, preload: started.append((target, len(args), status_path.name)) or 0,
    )

    assert runners.serve_workers(Settings(state_dir=tmp_path, worker_processes=2, worker_web_port=16070)) == 0

    assert started == [(runners.run_worker, 2, "worker-16070.status.json")]


@pytest.fixture
def json_lines(capsys, monkeypatch):
    """The JSON lines logged on stderr, read after the act."""
    # A module's logger caches the stderr it first wrote to: this test's is a new one.
    monkeypatch.setattr(runners, "log", structlog.get_logger("crmbus"))
    yield lambda: [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    structlog.reset_defaults()  # the configured logger writes to pytest's captured (then closed) stderr


def test_a_long_running_command_says_where_it_serves_and_why_it_stopped_in_json_lines(json_lines, tmp_path):
    settings = Settings(state_dir=tmp_path, log_level="info")

    with pytest.raises(SystemExit) as stopped, runners.announced(settings, "worker", health="http://127.0.0.1:1"):
        raise KafkaAccessRefusedError("the cluster refused the connection: SASL authentication failed")

    assert stopped.value.code == 1
    starting, error = json_lines()
    assert (starting["event"], starting["process"], starting["health"]) == ("starting", "worker", "http://127.0.0.1:1")
    assert (error["event"], error["level"], error["error"]) == ("stopped", "error", "KafkaAccessRefusedError")
    assert "SASL authentication failed" in error["reason"]


def test_a_process_that_crashes_logs_one_json_line_with_its_traceback_and_exits_1(json_lines, monkeypatch):
    def broken(host: str, port: int) -> None:
        raise OSError("address already in use")

    monkeypatch.setattr(runners, "serve", broken)

    with pytest.raises(SystemExit) as crashed:
        runners.run_sandbox("127.0.0.1", 1, "info")

    assert crashed.value.code == 1
    (line,) = json_lines()
    assert (line["event"], line["level"], line["process"]) == ("crashed", "error", "sandbox")
    assert "OSError: address already in use" in line["exception"]
