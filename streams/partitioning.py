"""How a tenant's events are spread over a lane's partitions, and so what order they keep.

``tenant`` (the default): every event of the tenant is keyed by the tenant id, so all of them go
to one partition, are routed by one router process, in the order they were accepted.

``entity``: an event with an ``ordering_key`` (given by the producer, or taken from its type's
entity key: ``lead_id:L-1``) is keyed ``<tenant_id>:<ordering_key>``; one without stays keyed by
the tenant. The events of one lead, client or conversation still share a partition and keep their
order; different entities spread over the partitions, so several router processes share the
tenant. A tenant id is a slug without ``:``, so an entity key never equals another tenant's key.
"""

from __future__ import annotations

from typing import Literal, get_args

Partitioning = Literal["tenant", "entity"]
PARTITIONINGS: tuple[Partitioning, ...] = get_args(Partitioning)
DEFAULT_PARTITIONING: Partitioning = "tenant"


def partitioning_named(name: str) -> Partitioning:
    """``name`` as a ``Partitioning``; ``ValueError`` naming the choices otherwise."""
    for known in PARTITIONINGS:
        if name == known:
            return known
    raise ValueError(f"partitioning must be one of {', '.join(PARTITIONINGS)}, not {name!r}")


def record_key(tenant_id: str, ordering_key: str | None, partitioning: Partitioning) -> bytes:
    """The Kafka record key of an event of ``tenant_id`` with ``ordering_key`` under ``partitioning``."""
    if partitioning == "entity" and ordering_key:
        return f"{tenant_id}:{ordering_key}".encode()
    return tenant_id.encode()


def keyed_entity(tenant_id: str, ordering_key: str | None, key: bytes | None) -> str | None:
    """The ordering key a record of ``tenant_id`` was keyed by, or None when it was keyed by the
    tenant (``tenant`` partitioning, an event without ordering key, or no key at all)."""
    if ordering_key and key == record_key(tenant_id, ordering_key, "entity"):
        return ordering_key
    return None
