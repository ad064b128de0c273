"""Faust topic objects for the agents and their tables: keys and values as raw bytes.

Faust decodes a record as its app's serializers say, and a ``Table`` makes its own changelog topic
with the table's key and value types, taking no serializer arguments
(``Table._new_changelog_topic``). The agents decode Avro themselves (``schemas.codec``) and
write their tables' changes as bytes (``agents.runtime.partitioned_table``), so the topics are
made here, raw, and each table is handed its changelog explicitly.
"""

from __future__ import annotations

from typing import Any

import faust


def raw_topic(app: faust.App, names: str | tuple[str, ...]) -> Any:
    """The topic(s) ``names``, read as bytes."""
    topics = (names,) if isinstance(names, str) else names
    return app.topic(*topics, key_serializer="raw", value_serializer="raw")


def changelog_topic(app: faust.App, name: str, partitions: int, retention_s: float | None = None) -> Any:
    """A table's changelog ``name`` as Faust would make it, but with bytes keys and values, named
    the same whichever roles a process runs (a deployment can split them later and keep its
    state), and, with ``retention_s``, compacted and also expired."""
    return app.topic(
        name,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        compacting=True,
        deleting=retention_s is not None,
        retention=retention_s,
        acks=False,
        internal=True,
        maxsize=131_072,
        allow_empty=True,
    )
