"""The supervisor with real processes: tiny children (tests/unit/supervised.py) that sleep or crash."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from infra.core.processes import process_cmdline
from infra.core.supervisor import read_status
from streams.deadlines import wait_until

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def start_supervisor(tmp_path):
    started = []

    def start(mode):
        status_path = tmp_path / "tiny.status.json"
        with (tmp_path / "supervisor.log").open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.unit.supervised", mode, str(status_path)], cwd=ROOT, stderr=log
            )
        started.append(process)
        return process, status_path, tmp_path / "supervisor.log"

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def children(status_path):
    status = read_status(status_path)
    return {} if status is None else {child.name: child for child in status[1]}


def running_pids(status_path):
    return {name: child.pid for name, child in children(status_path).items() if child.state == "running"}


def log_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_a_child_killed_outright_is_started_again_and_the_log_says_which_and_how(start_supervisor):
    _, status_path, log = start_supervisor("sleep")
    wait_until(lambda: len(running_pids(status_path)) == 2, 20, "two children running")
    before = running_pids(status_path)

    os.kill(before["tiny-1"], signal.SIGKILL)

    def restarted():
        pids = running_pids(status_path)
        return pids.get("tiny-1") not in (None, before["tiny-1"])

    wait_until(restarted, 20, "the killed child running again", interval_s=0.05)
    child = children(status_path)["tiny-1"]
    assert (child.restarts, child.last_exit) == (1, "signal SIGKILL")
    assert running_pids(status_path)["tiny-0"] == before["tiny-0"]  # its sibling never stopped
    crash = next(line for line in log_lines(log) if line.get("process") == "tiny-1" and "exit" in line)
    assert (crash["exit"], crash["restart_in_s"]) == ("signal SIGKILL", 0.05)


def test_sigterm_stops_every_child_and_the_supervisor_returns_cleanly(start_supervisor):
    supervisor, status_path, _ = start_supervisor("sleep")
    wait_until(lambda: len(running_pids(status_path)) == 2, 20, "two children running")
    pids = running_pids(status_path).values()

    supervisor.send_signal(signal.SIGTERM)

    assert supervisor.wait(timeout=20) == 0
    assert all(process_cmdline(pid) is None for pid in pids)


def test_a_crash_loop_waits_longer_after_each_crash_up_to_the_cap(start_supervisor):
    supervisor, status_path, log = start_supervisor("crash")

    wait_until(lambda: min((c.restarts for c in children(status_path).values()), default=0) >= 6, 30, "six crashes")

    delays = [line["restart_in_s"] for line in log_lines(log) if line.get("process") == "tiny-0" and "exit" in line]
    assert delays[:6] == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4]
    assert children(status_path)["tiny-0"].last_exit == "exit code 3"
    supervisor.send_signal(signal.SIGTERM)
    supervisor.wait(timeout=20)
    assert all(child.pid is None or process_cmdline(child.pid) is None for child in children(status_path).values())


def test_killing_the_supervisor_outright_stops_its_children(start_supervisor):
    supervisor, status_path, _ = start_supervisor("sleep")
    wait_until(lambda: len(running_pids(status_path)) == 2, 20, "two children running")
    pids = running_pids(status_path).values()

    supervisor.kill()
    supervisor.wait()

    wait_until(lambda: all(process_cmdline(pid) is None for pid in pids), 20, "orphaned children exit")
