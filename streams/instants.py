"""The range of instants an event may carry, and the one conversion to UTC every parser uses.

Python's datetimes end at years 1 and 9999, so an offset near either end (``0001-01-01T00:30+01:00``)
makes ``astimezone`` raise ``OverflowError``: left alone, a typo in a date-time is a 500. Every
instant we accept is instead converted here, and one outside the range is refused as a value error
naming the range. The range is the business's: nothing a CRM, a caregiver's shift or a payment
describes happened before the Unix epoch or will happen after 2199.
"""

from __future__ import annotations

from datetime import UTC, datetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = "must be between 1970-01-01 and 2199-12-31 (UTC)"


class InstantOutOfRangeError(ValueError):
    """An aware datetime outside ``EARLIEST``..``LATEST``; its message is ``OUT_OF_RANGE``."""

    def __init__(self) -> None:
        super().__init__(OUT_OF_RANGE)


def as_utc(moment: datetime) -> datetime:
    """``moment`` (aware) in UTC, or ``InstantOutOfRangeError`` when it lies outside the range."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise InstantOutOfRangeError() from None
    if not EARLIEST <= utc < LATEST:
        raise InstantOutOfRangeError()
    return utc
