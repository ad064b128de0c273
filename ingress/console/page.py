"""The overview as one server-rendered HTML page, from the overview document (``document``).

No script: the page reloads itself every ``REFRESH_S`` seconds. Every value is escaped — tenant
ids in the DLQ archive come from record keys, which anyone who can write to a lane chooses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from html import escape
from typing import Any

from streams.delivery_sla import percent_down

REFRESH_S = 5
_WINDOW_TITLES = {"15m": "last 15 min", "24h": "last 24 h"}


def render(doc: Mapping[str, Any]) -> str:
    """The page's body for ``doc``, an overview as ``document.overview`` builds it (``layout`` frames it)."""
    sections = [
        _banner(doc),
        _deliveries(doc["deliveries"], doc["sla"]),
        _dead_letters(doc["dead_letters"]),
        _workers(doc["workers"]),
        _lag(doc["consumer_lag"]),
    ]
    return (
        "<h1>crmbus — bus health</h1>"
        f"<div class=muted>at {_e(_clock(doc['generated_at']))} UTC · reloads every {REFRESH_S} s · "
        '<a href="/dashboard/api/overview">JSON</a></div>' + "".join(sections)
    )


def _banner(doc: Mapping[str, Any]) -> str:
    if doc["healthy"]:
        return (
            "<div class='banner ok'>All good: every source answers, no worker is down, "
            "no DLQ record is open, every SLA is met.</div>"
        )
    items = "".join(f"<li>{_e(note)}</li>" for note in doc["attention"])
    return f"<div class='banner bad'><strong>Needs attention</strong><ul>{items}</ul></div>"


def _deliveries(section: Mapping[str, Any], sla: Mapping[str, Any]) -> str:
    target = (
        f"SLA: success ≥ {sla['success_rate'] * 100:g} % and p95 ≤ {sla['p95_ms']:g} ms per tenant and "
        f"destination, judged on the {_WINDOW_TITLES.get(sla['window'], sla['window'])}; attempts from "
        "<code>webhook_deliveries</code>."
    )
    head = f"<h2>Deliveries</h2><div class=muted>{target}</div>"
    if section["status"] != "ok":
        return head + _unavailable("PostgreSQL", section)
    tables = []
    for window in section["windows"]:
        rows = [
            [_text(row["tenant_id"]), _text(row["destination"]), *_figures(row["windows"][window])]
            for row in section["rows"]
        ]
        title = f"{_WINDOW_TITLES.get(window, window)} (as of {_clock(section['as_of'][window])} UTC)"
        columns = ["tenant", "destination", "delivered", "retrying", "dead-lettered", "success", "p50", "p95"]
        tables.append(f"<h3>{_e(title)}</h3>" + _table([*columns, "last error", "SLA"], rows, "no attempts"))
    return head + "".join(tables)


def _figures(figures: Mapping[str, Any]) -> list[str]:
    rate = figures["success_rate"]
    verdict = figures["sla"]
    css = {"ok": "ok", "breached": "bad"}.get(verdict, "idle")
    because = f" ({_e('; '.join(figures['sla_reasons']))})" if figures["sla_reasons"] else ""
    return [
        _n(figures["delivered"]),
        _n(figures["retrying"]),
        _n(figures["dead_lettered"]),
        _n("—" if rate is None else percent_down(rate)),
        _n(_latency(figures["p50_ms"])),
        _n(_latency(figures["p95_ms"])),
        _text(figures["last_error_class"] or "—"),
        f"<td><span class={css}>{_e(verdict)}</span>{because}</td>",
    ]


def _dead_letters(section: Mapping[str, Any]) -> str:
    head = "<h2>Dead-letter queue</h2>"
    if section["status"] != "ok":
        return head + _unavailable("PostgreSQL", section)
    rows = [
        [
            _text(group["tenant_id"] or "—"),
            _text(group["destination"] or "—"),
            _text(group["error_class"]),
            _n(group["open_records"]),
            _n(age(group["oldest_age_s"])),
            f"<td><code>{_e(group['replay'])}</code></td>",
        ]
        for group in section["groups"]
    ]
    hint = (
        "<div class=muted>Open records from <code>dead_letter</code>. Fix the cause, then replay a group from "
        "<a href=/console/dead-letters>Dead letters</a> (it shows what would go first), or run the command "
        "shown (add <code>--dry-run</code> to see what it would send first).</div>"
        if rows
        else ""
    )
    table = _table(["tenant", "destination", "error class", "open", "oldest", "replay with"], rows, "no open record")
    return head + f"<div>{_e(section['open_records'])} open</div>" + table + hint


def _workers(workers: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for worker in workers:
        state = worker["state"]
        css = {"up": "ok", "starting": "idle"}.get(state, "bad")
        shown = f"{state} ({worker['error']})" if worker["error"] else state
        circuits = worker["circuits_open"]
        rows.append(
            [
                _text(worker["address"]),
                f"<td><span class={css}>{_e(shown)}</span></td>",
                _n(_maybe(worker["routes_loaded"])),
                _text("—" if circuits is None else ", ".join(f"{d}: {n}" for d, n in circuits.items()) or "none"),
                _n(_maybe(worker["stalls_unblocked"])),
                _n(_maybe(worker["scheduled_pending"])),
            ]
        )
    columns = ["worker", "state", "routes", "circuits open", "stalls unblocked", "scheduled pending"]
    return "<h2>Workers</h2>" + _table(columns, rows, "no worker configured")


def _lag(section: Mapping[str, Any]) -> str:
    head = "<h2>Consumer lag</h2>"
    if section["status"] != "ok":
        return head + _unavailable("Kafka", section)
    rows = [
        [
            _text(group["group"]),
            _text(group["state"]),
            _n(group["lag"]),
            _text(", ".join(f"{topic}: {n}" for topic, n in group["by_topic"].items()) or "—"),
        ]
        for group in section["groups"]
    ]
    return head + _table(["consumer group", "state", "lag", "by topic"], rows, "no consumer group")


def _table(columns: Iterable[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    """Each cell arrives as a whole ``<td>``, its text escaped."""
    if not rows:
        return f"<div class=muted>{_e(empty)}</div>"
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _unavailable(source: str, section: Mapping[str, Any]) -> str:
    return f"<div class=bad>{_e(source)} {_e(section['status'])} ({_e(section['error'])})</div>"


def age(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``: as precise as an operator needs."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def _latency(ms: float | None) -> str:
    if ms is None:
        return "—"
    return f"{ms:.0f} ms" if ms >= 100 else f"{ms:.1f} ms"


def _maybe(value: object) -> str:
    return "—" if value is None else str(value)


def _n(value: object) -> str:
    return f"<td class=n>{_e(value)}</td>"


def _text(value: object) -> str:
    return f"<td>{_e(value)}</td>"


def _clock(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S")


def _e(text: object) -> str:
    return escape(str(text), quote=True)
