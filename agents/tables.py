"""The worker's tables, each backed by its changelog topic, made for the roles a process runs.

Tables are co-partitioned with the lanes and the deliver topics (the app's ``topic_partitions``):
an agent writes each change to the changelog partition of the record it came from
(``agents.runtime.partitioned_table``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import faust
from faust.types import TableT

from agents.runtime.table_stores import filter_write_buffers, store_arguments
from agents.runtime.topics import changelog_topic
from infra.core.settings import Settings
from schemas.topic_names import TopicNames

if TYPE_CHECKING:
    from agents.app import Wiring


def add_tables(app: faust.App, settings: Settings) -> dict[str, TableT[bytes, bytes]]:
    """The tables of the process's roles, by name."""
    kept_for = {  # name: (the role whose agents use it, its purpose, its retention; None: for good)
        "router-dedupe": ("router", "Idempotency keys acted on, per tenant.", settings.dedupe_ttl_s + 3600),
        "scheduled": ("scheduler", "Delayed actions not yet due, by delivery id.", None),
        "sink-finished": (
            "sinks",
            "Delivery ids a destination took: a redelivery is not sent again.",
            settings.sink_finished_ttl_s + 3600,
        ),
        "circuits": ("sinks", "Circuit breaker state per (tenant, destination).", None),
        "sink-held": ("sinks", "Per order of an ordered destination, the delivery it waits behind.", None),
    }
    per_event = {"router-dedupe", "sink-finished"}  # a key per event or delivery: kept where settings say
    names = TopicNames(settings.topic_prefix)
    partitions = app.conf.topic_partitions
    tables = {
        name: app.Table(
            name,
            partitions=partitions,
            changelog_topic=changelog_topic(app, names.changelog(name), partitions, retention_s=kept),
            help=purpose,
            **store_arguments(settings.worker_table_store if name in per_event else "memory", name, kept),
        )
        for name, (role, purpose, kept) in kept_for.items()
        if role in settings.worker_roles
    }
    for table in tables.values():
        filter_write_buffers(table)
    return tables


def when_restored(tables: Mapping[str, TableT[bytes, bytes]], wiring: Wiring) -> None:
    """Once the tables are restored (at start-up, after a rebalance), index the scheduler's held
    actions anew, make the sinks read the circuit states again (those of partitions handed away
    are gone, those of partitions taken over restored), and let the worker report ready."""

    async def on_recovered() -> None:
        if "scheduled" in tables:
            (await wiring.the_scheduler()).rebuild()
        if "circuits" in tables:
            wiring.circuits.reload()
        wiring.recovered.set()

    for table in tables.values():
        table.on_recover(on_recovered)
