"""Structured JSON logs (structlog). LGPD: personal data never reaches a log line.

Callers log ids (request_id, event_id, tenant_id), types and counts. As a second line of
defence, personal data is replaced before rendering, at any depth and in free text
(``infra.core.log_redaction``), exceptions' text included.

Quiet when broken: while a broker is away, aiokafka logs each failed connection, metadata update,
fetch and coordinator request (about 100 lines a second per worker process). ``RepeatLimiter``
lets the libraries' first line of each kind through and then at most one per minute, which
carries how many it held back; our own code logs state changes, not attempts
(``streams.link_state``).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

import structlog

from infra.core.log_redaction import redact_personal_data

# Loggers of the libraries whose lines repeat once per retry while a broker is away.
LIBRARY_LOGGERS = ("aiokafka", "faust", "mode", "kafka")
_KINDS_KEPT = 1024  # message templates remembered at most; a library that formats eagerly cannot grow it further


class RepeatLimiter(logging.Filter):
    """Lets through the first record of each kind (logger, level, message template) from the
    ``loggers`` given, then at most one per ``window_s``; that one carries ``repeated``, the number
    of records of its kind held back since the last one let through."""

    def __init__(
        self,
        loggers: tuple[str, ...] = LIBRARY_LOGGERS,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.loggers, self.window_s, self.clock = loggers, window_s, clock
        self._kinds: dict[tuple[str, int, str], list[float]] = {}  # kind -> [let through at, held back]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._limited(record.name):
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        with self._lock:
            seen = self._kinds.get(kind)
            if seen is not None and now - seen[0] < self.window_s:
                seen[1] += 1
                return False
            if seen is None and len(self._kinds) >= _KINDS_KEPT:
                self._kinds.clear()
            self._kinds[kind] = [now, 0]
        if seen is not None and seen[1]:
            record.repeated = int(seen[1])
        return True

    def _limited(self, name: str) -> bool:
        return any(name == prefix or name.startswith(prefix + ".") for prefix in self.loggers)


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr, and nothing else; libraries' own loggers quietened to warnings."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_personal_data,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries (Faust, aiokafka, SQLAlchemy) and our stdlib loggers: the same JSON lines, redacted.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=structlog.processors.JSONRenderer(),
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(),
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
                redact_personal_data,
            ],
        )
    )
    handler.addFilter(RepeatLimiter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # a library's warning is a JSON line too, not raw text on stderr
    # Their DEBUG records cost CPU even when filtered late, and may quote payloads.
    # (SQLAlchemy's engine logger is quieted by infra.db.engine, which alone uses SQLAlchemy.)
    for noisy in ("aiohttp.access", "aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
