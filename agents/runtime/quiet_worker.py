"""Faust's worker run as a service whose output is JSON lines only (``infra.core.logging``).

``faust.Worker`` is built for a terminal: mode's worker prints through ``say``/``carp`` unless
``quiet``, sets up its own (coloured) logging unless ``override_logging`` is off, redirects
stdout into a logger, and Faust's progress spinner writes to stdout whatever it is: at start-up
``finish()`` prints backspaces and the cursor-show escape (``\\b\\x1b[?25h``) even into a log
file, where they land in the middle of the next JSON line. The Faust CLI's start-up table is
printed by ``faust worker``'s command, which crmbus does not use. mode's aiomonitor console
(``console_port``) only starts with ``debug``, left off.
"""

from __future__ import annotations

from typing import NoReturn

import faust


def run_worker(app: faust.App) -> NoReturn:
    """Run ``app`` in the foreground until SIGTERM or SIGINT; its lines go through the root
    logger's handler, already configured."""
    worker = faust.Worker(app, loglevel="warn", quiet=True, redirect_stdouts=False, override_logging=False)
    worker.spinner = None  # no terminal to draw on; nothing else reads it
    worker.execute_from_commandline()
