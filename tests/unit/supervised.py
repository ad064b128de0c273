"""A supervisor of tiny children for tests/unit/test_supervisor.py, run as
``python -m tests.unit.supervised <mode> <status file>``: ``sleep`` children wait for a signal,
``crash`` children exit with status 3 at once."""

import signal
import sys
from pathlib import Path

from infra.core.logging import configure_logging
from infra.core.supervisor import exit_with, supervise
from streams.restarts import RestartPolicy


def sleeper(parent_pid: int) -> None:
    exit_with(parent_pid)
    signal.pause()  # until SIGTERM, whose default action ends the process


def crasher(parent_pid: int) -> None:
    exit_with(parent_pid)
    sys.exit(3)


if __name__ == "__main__":
    mode, path = sys.argv[1], Path(sys.argv[2])
    configure_logging("info")
    policy = RestartPolicy(first_delay_s=0.05, max_delay_s=0.4, healthy_after_s=60)
    target = sleeper if mode == "sleep" else crasher
    sys.exit(supervise(target, [(), ()], "tiny", policy=policy, status_path=path))
