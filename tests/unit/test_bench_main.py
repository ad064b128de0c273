"""``python -m bench``: what every scenario gets from the entry point."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bench.__main__ import SCENARIOS, _parser

pytestmark = pytest.mark.unit

_PROBE = """
    import threading
    from pathlib import Path

    def add_arguments(parser):
        parser.add_argument("--dir", required=True)

    def run(args):
        work = Path(args.dir)
        (work / "started").touch()
        try:
            threading.Event().wait(60)  # a long phase, as a bench has
        finally:
            (work / "cleaned-up").touch()  # where a scenario stops the processes it started
        return 0
"""

_RUNNER = """
    import sys
    import bench.__main__ as entry
    entry.SCENARIOS = {"probe": "bench_probe"}
    sys.exit(entry.main(["run", "probe", "--dir", sys.argv[1]]))
"""


def test_every_scenario_loads_and_parses_its_defaults() -> None:
    parser = _parser()  # imports each scenario's module: a broken import fails here, not in a bench run
    for name in SCENARIOS:
        args = parser.parse_args(["run", name])
        assert args.scenario == name
        assert callable(args.entry)


def _wait_for(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} did not appear within {timeout_s} s"
        time.sleep(0.05)


def test_a_sigterm_unwinds_a_scenario_like_ctrl_c_so_it_stops_what_it_started(tmp_path: Path) -> None:
    (tmp_path / "bench_probe.py").write_text(textwrap.dedent(_PROBE))
    runner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_RUNNER), str(tmp_path)],
        env={"PYTHONPATH": f"{tmp_path}:{Path.cwd()}", "PATH": ""},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(tmp_path / "started", 60)
        runner.send_signal(signal.SIGTERM)
        _, stderr = runner.communicate(timeout=30)
    finally:
        runner.kill()
    assert (tmp_path / "cleaned-up").exists()
    assert runner.returncode != 0
    assert "KeyboardInterrupt" in stderr
