"""log_redaction: CPU per log line of ``infra.core.log_redaction`` against the rest of the line's rendering.

Each kind of line is taken through the processors every log line passes (level, timestamp,
exception text, JSON), with and without the redaction step, ``--lines`` times in this process;
the difference is what redaction costs a line. Kinds: ``ids`` (an event, four ids and a count,
what our code logs), ``text`` (a library's formatted message with a phone and an e-mail in it),
``nested`` (a field holding a payload-like dict with lists, the worst a careless caller logs).
``--rate`` and ``--duration`` do not apply.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Callable, MutableMapping
from typing import Any

import structlog
from rich.table import Table

from bench.report import console
from bench.stats import Report, json_line, median_report
from infra.core.log_redaction import redact_personal_data

Processor = Callable[[Any, str, MutableMapping[str, Any]], Any]
_EVENT_ID = str(uuid.uuid4())
LINES: dict[str, Callable[[], dict[str, Any]]] = {
    "ids": lambda: {
        "event": "delivery settled",
        "event_id": _EVENT_ID,
        "tenant_id": "acme",
        "destination": "crm",
        "outcome": "delivered",
        "attempt": 1,
    },
    "text": lambda: {
        "event": "Unable to deliver to 5511987654321 for ana.souza@example.com.br: HTTP 503 after 3 attempts",
        "logger": "connectors.destinations",
    },
    "nested": lambda: {
        "event": "mapping failed",
        "event_id": _EVENT_ID,
        "detail": {
            "lead": {"nome": "Ana", "contacts": [{"celular": "+55 11 98765-4321"}, {"e_mail": "a@b.com"}]},
            "tags": ["vip", "inbound"],
            "note": "cpf 123.456.789-09",
        },
    },
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lines", type=int, default=50_000, help="lines of each kind per run (default 50000)")


def _chain(redact: bool) -> list[Processor]:
    steps: list[Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    return [*steps, *([redact_personal_data] if redact else []), structlog.processors.JSONRenderer()]


def _us_per_line(make: Callable[[], dict[str, Any]], chain: list[Processor], lines: int) -> float:
    events = [make() for _ in range(lines)]  # built before the clock starts
    began = time.process_time()
    for event in events:
        value: Any = event
        for step in chain:
            value = step(None, "info", value)
    return (time.process_time() - began) / lines * 1e6


def _once(lines: int) -> Report:
    report: Report = {}
    for kind, make in LINES.items():
        plain = _us_per_line(make, _chain(redact=False), lines)
        redacted = _us_per_line(make, _chain(redact=True), lines)
        report[f"{kind}_line_us"] = plain
        report[f"{kind}_redaction_us"] = redacted - plain
    return report


def _table(title: str, report: Report) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("line", "µs per line without redaction", "redaction adds µs"):
        table.add_column(column, justify="right" if column != "line" else "left")
    for kind in LINES:
        table.add_row(kind, f"{report[f'{kind}_line_us']:.1f}", f"{report[f'{kind}_redaction_us']:.1f}")
    return table


def run(args: argparse.Namespace) -> int:
    console.print(f"bench log_redaction: {args.lines:,} lines of each kind, {args.runs} run(s)")
    reports = [_once(args.lines) for _ in range(args.runs)]
    report = median_report(reports)
    console.print(_table(f"summary ({args.runs} run(s), medians)", report))
    print(json_line(report))
    return 0
