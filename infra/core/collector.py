"""Python's cyclic garbage collector, set for processes that live long and move many records.

Measured in a worker during ``bench run deliver --workers 1`` (collector passes timed through
``gc.callbacks``): with Python's defaults, thresholds (700, 10, 10), the collector took about
11 s of the worker's 68 s of CPU. Each of some 40 full passes walked the ~280,000 objects that
imports and the app had built (functions, closures, types) plus the events waiting in Faust's
buffers, at 100-190 ms a pass; thousands of young passes walked those waiting events again.
Frozen start-up objects and a young generation of 50,000 brought it under 1 s.

The ingress processes froze their start-up objects already; the larger young generation took
their collector's time in ``bench run ingress --duration 6`` from ~1.2 s to ~0.2 s of ~25 s of
CPU each, and the p99 of single requests at 5,000/s from 102-227 ms to 18-46 ms (single runs).
"""

from __future__ import annotations

import gc

# Young objects allocated between passes (Python's default: 700). Garbage cycles wait a little
# longer for their pass; the worker's peak RSS in that bench stayed at 469 MiB.
YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20  # young passes per middle pass (default 10)
OLD_THRESHOLD = 100  # middle passes before a full pass is considered (default 10)


def tune_for_streams() -> None:
    """What exists now (modules, the app, its long-lived resources) frozen out of every later pass,
    and fewer, larger passes over the records in flight."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
