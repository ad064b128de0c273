"""The ticks of a periodic job: which run a moment belongs to.

A job that runs every ``every_s`` seconds has one tick per interval since the Unix epoch (UTC);
one that runs daily at a time of day has one tick per day at that time. Every process computes
the same tick for the same moment, so a claim on (job, tick) makes a run happen once however
many processes wake up for it.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta


def tick_of(now: datetime, every_s: float) -> datetime:
    """The start of the interval of ``every_s`` seconds that holds ``now``."""
    if every_s <= 0:
        raise ValueError("a job's interval must be positive")
    seconds = now.timestamp()
    return datetime.fromtimestamp(seconds - seconds % every_s, UTC)


def daily_tick(now: datetime, at: time) -> datetime:
    """The latest moment at ``at`` (UTC, or ``at``'s own zone) that is not after ``now``."""
    zone = at.tzinfo or UTC
    local = now.astimezone(zone)
    today = datetime.combine(local.date(), at.replace(tzinfo=None), zone)
    return (today if today <= local else today - timedelta(days=1)).astimezone(UTC)
