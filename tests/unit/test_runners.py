from importlib import metadata

import pytest

from infra.cli import runners
from infra.core.settings import Settings
from streams.errors import UnsupportedRuntimeError

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
        lambda target, args, name, status_path: started.append((target, len(args), status_path.name)) or 0,
    )

    assert runners.serve_workers(Settings(state_dir=tmp_path, worker_processes=2, worker_web_port=16070)) == 0

    assert started == [(runners.run_worker, 2, "worker-16070.status.json")]
