"""Structured JSON logs (structlog). LGPD: personal data never reaches a log line.

Callers log ids (request_id, event_id, tenant_id), types and counts. As a second line of
defence, values under keys that usually hold personal data are replaced before rendering.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values may hold phones, e-mails, names or message texts.
REDACTED_KEYS = frozenset(
    {"payload", "body", "phone", "telefone", "email", "name", "nome", "text", "message", "mensagem", "chat_name"}
)
REDACTED = "[redacted]"


def redact_personal_data(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in REDACTED_KEYS.intersection(event_dict):
        event_dict[key] = REDACTED
    return event_dict


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr; libraries' own loggers quietened to warnings."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_personal_data,
            structlog.processors.format_exc_info,
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
                redact_personal_data,
                structlog.processors.format_exc_info,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # Their DEBUG records cost CPU even when filtered late, and may quote payloads.
    # (SQLAlchemy's engine logger is quieted by infra.db.engine, which alone uses SQLAlchemy.)
    for noisy in ("aiohttp.access", "aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
