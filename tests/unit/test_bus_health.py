"""What the dashboard makes of workers' metrics, consumer lag and the open DLQ, and when it asks
for an operator's attention."""

import shlex
from datetime import UTC, datetime, timedelta

from streams.bus_health import (
    Breach,
    DeadLetterGroup,
    GroupLag,
    PartitionOffsets,
    attention,
    worker_metrics,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def test_open_circuits_are_summed_per_destination_and_closed_ones_left_out():
    metrics = worker_metrics(
        [
            ("crmbus_circuits_open", {"destination": "financeiro"}, 2.0),
            ("crmbus_circuits_open", {"destination": "zapi"}, 1.0),
            ("crmbus_circuits_open", {"destination": "financeiro"}, 1.0),
            ("crmbus_circuits_open", {"destination": "crm"}, 0.0),
        ]
    )
    assert metrics.circuits_open == {"financeiro": 3, "zapi": 1}


def test_stalls_unblocked_add_up_over_topics_and_the_created_timestamps_are_not_counted():
    metrics = worker_metrics(
        [
            ("crmbus_worker_stalls_unblocked_total", {"topic": "crmbus.events"}, 2.0),
            ("crmbus_worker_stalls_unblocked_total", {"topic": "crmbus.deliver.crm"}, 1.0),
            ("crmbus_worker_stalls_unblocked_created", {"topic": "crmbus.events"}, 1.7e9),
            ("crmbus_scheduled_pending", {}, 4.0),
            ("crmbus_routes_loaded", {}, 12.0),
        ]
    )
    assert (metrics.stalls_unblocked, metrics.scheduled_pending, metrics.routes_loaded) == (3, 4, 12)


def test_lag_is_the_records_between_the_commit_and_the_end_of_each_partition():
    group = GroupLag(
        "crmbus-worker",
        "stable",
        (
            PartitionOffsets("crmbus.deliver.crm", 0, committed=10, high=25),
            PartitionOffsets("crmbus.deliver.crm", 1, committed=5, high=5),
            PartitionOffsets("crmbus.events", 3, committed=7, high=9),
        ),
    )
    assert group.total == 17
    assert group.by_topic() == {"crmbus.deliver.crm": 15, "crmbus.events": 2}


def test_a_commit_read_after_the_end_counts_no_negative_lag():
    assert PartitionOffsets("t", 0, committed=12, high=10).lag == 0


def test_topics_are_listed_by_lag_largest_first_without_those_that_caught_up():
    group = GroupLag(
        "g", "stable", (PartitionOffsets("a", 0, 0, 1), PartitionOffsets("b", 0, 0, 9), PartitionOffsets("c", 0, 4, 4))
    )
    assert list(group.by_topic()) == ["b", "a"]


def test_the_oldest_dead_letter_age_is_counted_from_its_failure():
    group = DeadLetterGroup("acme", "crm", "PermanentDeliveryError", 3, NOW - timedelta(hours=2))
    assert group.age_s(NOW) == 7200


def test_the_replay_hint_selects_exactly_the_group_and_survives_any_tenant_id():
    group = DeadLetterGroup("acme; rm -rf /", "financeiro", "TransientDeliveryError", 1, NOW)
    words = shlex.split(group.replay_command())
    assert words == [
        "crmbus", "dlq", "replay", "--tenant", "acme; rm -rf /",
        "--destination", "financeiro", "--error-class", "TransientDeliveryError",
    ]  # fmt: skip


def test_a_record_that_failed_before_a_destination_was_chosen_is_replayed_without_one():
    group = DeadLetterGroup("acme", None, "DecodeError", 1, NOW)
    assert group.replay_command() == "crmbus dlq replay --tenant acme --error-class DecodeError"


def test_all_well_needs_no_attention():
    notes = attention(
        unavailable={}, workers={"http://w:1": "up"}, groups=[GroupLag("g", "stable")], open_dead_letters=0, breaches=[]
    )
    assert notes == []


def test_every_problem_is_named_most_fundamental_first():
    notes = attention(
        unavailable={"PostgreSQL": "unreachable"},
        workers={"http://w:1": "up", "http://w:2": "unreachable", "http://w:3": "starting"},
        groups=[GroupLag("crmbus-worker", "empty", (PartitionOffsets("crmbus.events", 0, 0, 4),))],
        open_dead_letters=2,
        breaches=[Breach("acme", "crm", ("p95 2500 ms > 2000 ms",))],
    )
    assert notes == [
        "PostgreSQL unreachable",
        "worker http://w:2 unreachable",
        "worker http://w:3 starting",
        "consumer group crmbus-worker has no member and 4 records waiting",
        "2 open DLQ records",
        "SLA breached: acme → crm (p95 2500 ms > 2000 ms)",
    ]


def test_a_group_without_members_that_has_nothing_waiting_is_no_problem():
    notes = attention(
        unavailable={}, workers={"http://w:1": "up"}, groups=[GroupLag("crmbus-dlq-replay", "empty")],
        open_dead_letters=0, breaches=[],
    )  # fmt: skip
    assert notes == []
