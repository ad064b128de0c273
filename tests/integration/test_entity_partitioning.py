"""Entity partitioning on the real stack: one tenant set to ``entity``, many leads, events posted
through the real ingress, two `crmbus worker --roles router` processes and one of sinks in front of
an idempotent loopback destination (the chaos ledger) whose systems are ``ordered``. Both routers
route a share of the one tenant's events, and every lead's events reach every system in the order
they were sent."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.chaos_harness import Stage, Worker, lane_owners, ledger_server, stage, start_all
from bench.deliver_systems import worker_group
from bench.e2e_events import event_body
from bench.e2e_receiver import DESTINATIONS
from bench.stack import HOST, UNLIMITED, Servers, free_port, ingress_command
from infra.core.secret_box import SecretBox
from infra.db.api_keys import ApiKeys
from infra.db.endpoints import Endpoints
from infra.db.tenants import Tenants
from streams.deadlines import wait_until
from tests.integration.ingress_harness import bearer, isolated_settings

LEADS = 30
ROUNDS = 8  # events per lead; round r carries event r of every lead, in one batch
TAG = 17


@pytest.fixture
def entity_stage(kafka_bootstrap, database_url, migrated, unique, topic_prefix, tmp_path) -> Iterator[Stage]:
    settings = isolated_settings(kafka_bootstrap, database_url, unique, topic_prefix)
    with ledger_server(tmp_path) as ledger:
        yield stage(settings, migrated, ledger, tmp_path, [f"t-{unique[-8:]}"])


def _router_events(worker: Worker) -> float:
    """What one router process counted on its lanes (every outcome)."""
    text = httpx.get(f"http://{HOST}:{worker.port}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "crmbus_router_events"
        for sample in family.samples
        if sample.name == "crmbus_router_events_total"
    )


def _lead_event(seq: int) -> dict[str, object]:
    """Event ``seq``, of lead ``seq % LEADS``; its sequence number is in the phone, where the ledger reads it."""
    document = json.loads(event_body(TAG, seq, "entity-"))
    document["payload"]["lead_id"] = f"L-{seq % LEADS:03d}"
    return dict(document)


def _shared_by_two(stage_: Stage, group: str) -> bool:
    owners = lane_owners(stage_, group)
    members = {member for found in owners.values() for member in found}
    return len(members) == 2 and all(len(found) == 1 for found in owners.values())


def test_two_routers_share_one_entity_partitioned_tenant_and_each_lead_keeps_its_order(entity_stage, migrated):
    tenant = entity_stage.tenants[0]
    Tenants(migrated, actor="test").set_partitioning(tenant, "entity")
    destinations = Endpoints(migrated, SecretBox(entity_stage.secret_key.encode()), actor="test")
    for system in DESTINATIONS:
        destinations.update(tenant, system, config={"ordered": True})
    _, secret = ApiKeys(migrated, actor="test").create(tenant, "entity-test")
    routers = [Worker(entity_stage, f"router-{name}", CRMBUS_WORKER_ROLES="router") for name in "ab"]
    sinks = Worker(entity_stage, "sinks", CRMBUS_WORKER_ROLES="sinks,retry")
    port = free_port()
    ingress = Servers(
        "ingress",
        [[str(ingress_command()), "ingress", "--host", HOST, "--port", str(port), "--workers", "1"]],
        port,
        entity_stage.work_dir,
        env={**{k: v for k, v in routers[0].env.items() if k.startswith("CRMBUS_")}, **UNLIMITED},
    )
    router_group = worker_group(entity_stage.settings.topic_prefix, ("router",))
    try:
        start_all([*routers, sinks])
        ingress.started(90)
        # Each router owns half the lane before anything is sent: no rebalance mid-test.
        wait_until(lambda: _shared_by_two(entity_stage, router_group), 90, "the lane shared by the two routers")
        partitions: set[int] = set()
        with httpx.Client(base_url=f"http://{HOST}:{port}", headers=bearer(secret), timeout=30) as client:
            for round_ in range(ROUNDS):
                events = [_lead_event(round_ * LEADS + lead) for lead in range(LEADS)]
                answer = client.post("/v1/events/batch", json={"events": events})
                assert answer.status_code == 202, answer.text
                partitions |= {result["partition"] for result in answer.json()["results"]}
        wait_until(lambda: entity_stage.ledger.complete(TAG) >= LEADS * ROUNDS, 180, "every event at every system")
        wait_until(lambda: sum(map(_router_events, routers)) >= LEADS * ROUNDS, 30, "the routers' counts")
        shares = [_router_events(router) for router in routers]
    finally:
        ingress.stop()
        for worker in [*routers, sinks]:
            worker.stop()
    print(f"router events per process {shares}, lane partitions used {sorted(partitions)}")
    assert len(partitions) > 1  # the one tenant's events were spread over the lane
    assert all(share > 0 for share in shares), shares
    assert sum(shares) >= LEADS * ROUNDS
    arrived: dict[tuple[str, int], list[int]] = {}
    for application in entity_stage.ledger.applications(TAG):
        if not application.replay:
            arrived.setdefault((application.system, application.seq % LEADS), []).append(application.seq)
    assert set(arrived) == {(system, lead) for system in DESTINATIONS for lead in range(LEADS)}
    for (system, lead), seqs in arrived.items():
        assert seqs == [round_ * LEADS + lead for round_ in range(ROUNDS)], (system, lead, seqs)
