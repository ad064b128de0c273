"""`crmbus status` tells a bus process that crashed and is restarting from one running and from
one not started."""

import time
from pathlib import Path

import pytest

from infra.cli.services import _bus_state
from infra.local.bus_node import BusProcess, ProcessStatus
from streams.restarts import ChildStatus

pytestmark = pytest.mark.unit

WORKER = BusProcess("worker", ("worker",), "http://127.0.0.1:18010/health", 18010, "CRMBUS_WORKER_WEB_PORT", {})
LOG = Path(".crmbus/bus/worker.log")


def test_a_process_whose_child_waits_to_restart_is_crashed_and_restarting():
    children = (
        ChildStatus("crmbus-worker-0", "running", 11),
        ChildStatus("crmbus-worker-1", "restarting", None, 2, "signal SIGKILL", time.time(), time.time() + 2),
    )

    state, details = _bus_state(ProcessStatus(WORKER, 10, True, LOG, children))

    assert "crashed, restarting" in state
    assert "crmbus-worker-1 crashed (signal SIGKILL" in details and "restart 2" in details and "pid 10" in details


def test_a_running_process_that_crashed_before_says_how_often_and_how_last():
    children = (ChildStatus("crmbus-worker-0", "running", 12, 1, "exit code 1", time.time() - 60),)

    state, details = _bus_state(ProcessStatus(WORKER, 10, True, LOG, children))

    assert "answering" in state
    assert details.startswith("1 restart, last: crmbus-worker-0 exit code 1")


def test_a_process_never_started_is_not_started_rather_than_crashed():
    state, details = _bus_state(ProcessStatus(WORKER, None, False, LOG))

    assert "down" in state and details == "not started by crmbus"
