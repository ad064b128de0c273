"""Retention by whole days: which daily partitions a table needs ahead and which have expired.

A partitioned table (``infra.db.partitions``) holds one partition per UTC day, named
``<table>_p<YYYYMMDD>`` and covering [day, day + 1), plus ``<table>_default`` for rows outside
them. A day has expired once its last moment is older than the table's retention: every row in
it is, so the partition is dropped whole, never row by row.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

_DAY = re.compile(r"_p(\d{8})$")


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def default_name(table: str) -> str:
    return f"{table}_default"


def day_of(table: str, name: str) -> date | None:
    """The day of ``table``'s partition ``name``; None for its default partition or another name."""
    if not name.startswith(f"{table}_p"):
        return None
    found = _DAY.search(name)
    if found is None or len(name) != len(table) + 10:
        return None
    return datetime.strptime(found.group(1), "%Y%m%d").date()


def bounds(day: date) -> tuple[datetime, datetime]:
    """The moments a day's partition holds: from its start (included) to the next day's (not)."""
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def days_ahead(now: datetime, ahead: int) -> list[date]:
    """Today (UTC) and the ``ahead`` days after it: the partitions to have ready."""
    if ahead < 0:
        raise ValueError("days ahead must not be negative")
    today = now.astimezone(UTC).date()
    return [today + timedelta(days=n) for n in range(ahead + 1)]


def expired(day: date, now: datetime, keep: timedelta) -> bool:
    """Whether every moment of ``day`` is older than ``keep`` at ``now``."""
    return bounds(day)[1] <= now - keep
