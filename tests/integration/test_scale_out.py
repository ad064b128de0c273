"""Scale-out: three `crmbus worker`s started as if on three hosts (each one process, its own state
directory, web port and bind host), one group, a steady stream of leads to loopback destinations
that apply each Idempotency-Key once. Mid-stream a fourth host joins and one is SIGKILLed: the lane's
partitions are owned again, each by exactly one live worker; the router's dedupe table follows its
partitions (events re-sent after the rebalance with the idempotency keys of events seen before it
are suppressed); nothing accepted is lost and nothing takes effect twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.chaos_harness import (
    LANE_PARTITIONS,
    Disruption,
    LaneFeed,
    Stage,
    Worker,
    group_lag,
    lane_owners,
    ledger_server,
    run_load,
    stage,
    start_all,
)
from bench.e2e_receiver import DESTINATIONS
from streams.deadlines import wait_until
from tests.integration.ingress_harness import isolated_settings

RATE = 30.0  # events/s, 90 deliveries/s: steady and well inside what four workers sustain on 2 cores
WEB_HOST = "127.0.0.1"  # each worker binds CRMBUS_WORKER_WEB_HOST: on real hosts their own address


@pytest.fixture
def hosts_stage(kafka_bootstrap, database_url, migrated, unique, topic_prefix, tmp_path) -> Iterator[Stage]:
    settings = isolated_settings(kafka_bootstrap, database_url, unique, topic_prefix)
    tenants = [f"t-{unique[-8:]}-{index}" for index in range(LANE_PARTITIONS)]
    with ledger_server(tmp_path) as ledger:
        yield stage(settings, migrated, ledger, tmp_path, tenants)


def _owned_once_by(stage_: Stage, members: int) -> bool:
    owners = lane_owners(stage_)
    live = {member for found in owners.values() for member in found}
    return len(live) == members and all(len(found) == 1 for found in owners.values())


def _delivered(stage_: Stage, tag: int) -> list[int]:
    """Events of ``tag`` every destination has applied so far."""
    systems: dict[int, set[str]] = {}
    for application in stage_.ledger.applications(tag):
        systems.setdefault(application.seq, set()).add(application.system)
    return sorted(seq for seq, found in systems.items() if found == set(DESTINATIONS))


def test_a_fourth_host_joins_one_is_killed_and_nothing_is_lost_or_applied_twice(hosts_stage):
    hosts = [Worker(hosts_stage, f"host-{index}", web_host=WEB_HOST) for index in range(4)]
    try:
        start_all(hosts[:3])
        wait_until(lambda: _owned_once_by(hosts_stage, 3), 60, "the lane shared by three workers")
        seen_before: list[int] = []

        def resend_what_was_seen_before(feed: LaneFeed) -> None:
            # The rebalance is over once the group is three live members again, each partition owned once.
            wait_until(lambda: _owned_once_by(hosts_stage, 3), 150, "the lane shared by the three live workers")
            feed.resend(seen_before)
            wait_until(lambda: group_lag(hosts_stage) == 0, 120, "the re-sent events routed and delivered")

        run = run_load(
            hosts_stage, tag=1, rate=RATE, duration_s=40.0,
            disruptions=[
                Disruption(8.0, lambda: seen_before.extend(_delivered(hosts_stage, 1)), "note the events seen"),
                Disruption(10.0, lambda: hosts[3].start(120), "a fourth host joins"),
                Disruption(25.0, hosts[0].kill, "a host is SIGKILLed"),
            ],
            drain_s=180.0, after_load=resend_what_was_seen_before,
        )  # fmt: skip
    finally:
        for host in hosts:
            host.stop()
    verdict = run.verdict("scale-out", moments=[2])  # resumption after the SIGKILL
    print(verdict.row(), f"re-sent {len(seen_before)}")
    assert verdict.accepted >= int(40.0 * RATE * 0.9)
    assert verdict.lost == 0, verdict
    assert verdict.effective_duplicates == 0, verdict
    assert len(seen_before) >= 150
