"""Small, dependable pieces for managing the local service processes crmbus starts."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from streams.errors import MissingToolError


def require_tool(name: str, install_hint: str) -> str:
    """The absolute path of program ``name``, or a MissingToolError saying what to install."""
    path = shutil.which(name)
    if path is None:
        raise MissingToolError(f"{name!r} is not installed: {install_hint}")
    return path


def port_accepts(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether something listens on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def process_cmdline(pid: int) -> str | None:
    """The command line of a live process, or None when it is gone (zombies count as gone)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
        if status.rsplit(")", 1)[1].split()[0] == "Z":
            return None
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def spawn_detached(command: list[str], log_file: Path, env: Mapping[str, str] | None = None) -> int:
    """Start a service in its own session, stdout and stderr appended to ``log_file``; its
    environment is ``env``, else this process's.

    posix_spawn rather than subprocess.Popen: the service outlives this process, and a
    Popen object would warn about a child still running when it is collected.
    """
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_file), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(command[0], command, dict(env or os.environ), file_actions=actions, setsid=True)


def stop_process_group(pid: int, timeout_s: float) -> None:
    """SIGTERM the process group led by ``pid``; SIGKILL what is left after ``timeout_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            _reap(pid)
            if process_cmdline(pid) is None:
                return
            time.sleep(0.1)


def _reap(pid: int) -> None:
    # A child of this very process stays a zombie until waited for.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log written)"
