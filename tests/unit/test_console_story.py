"""An event's story on the console: each delivery, its attempts and where it is now; and what a
tenant's key sees of the overview."""

from datetime import UTC, datetime, timedelta

from infra.db.dead_letters import DeadLetterView
from infra.db.delivery_log import DeliveryAttempt, EventHistory
from ingress.console.document import Readings, Unavailable, Window, seen_by
from ingress.console.story import decision, deliveries
from streams.bus_health import DeadLetterGroup
from streams.delivery_sla import DeliveryFigures, DeliverySla
from streams.event_status import RoutingDecision

AT = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def attempt(delivery, destination, number, status):
    return DeliveryAttempt(delivery, destination, number, status, 200, "lead.created", AT + timedelta(seconds=number))


def dead(delivery, status="open"):
    return DeadLetterView(
        id=1, tenant_id="acme", destination="financeiro", delivery_id=delivery, event_id=None,
        original_topic="crmbus.deliver.financeiro", original_partition=0, original_offset=7,
        error_class="TransientDeliveryError", error_message="refused", status_code=503, attempts=2,
        first_failure_at=AT, last_failure_at=AT, status=status, replay_id=None, discard_reason=None,
        headers={}, key=b"acme", value=b"x", created_at=AT,
    )  # fmt: skip


def test_each_delivery_is_told_apart_with_its_attempts_and_where_it_is_now():
    history = EventHistory(
        "lead.created",
        RoutingDecision("routed", 2, 0, AT),
        [
            attempt("d-fin", "financeiro", 1, "retrying"),
            attempt("d-crm", "crm", 1, "delivered"),
            attempt("d-fin", "financeiro", 2, "dead_lettered"),
        ],
    )
    fin, crm = deliveries(history, [dead("d-fin")])
    assert (fin.destination, len(fin.attempts), fin.now, fin.retryable) == ("financeiro", 2, "dead-lettered", True)
    assert (crm.destination, crm.now, crm.retryable, crm.dead_letters) == ("crm", "delivered", False, ())
    assert decision(history) == "accepted and routed to 2 destination(s) at 2026-12-05 08:00:00 UTC"


def test_a_dead_letter_replayed_and_not_yet_attempted_again_says_so():
    history = EventHistory("lead.created", None, [attempt("d-fin", "financeiro", 1, "dead_lettered")])
    (fin,) = deliveries(history, [dead("d-fin", status="replayed")])
    assert fin.now == "replayed from the DLQ, not yet attempted again"
    assert not fin.retryable, "its letter is on its way already"


def test_a_dead_lettered_delivery_whose_letter_is_not_archived_yet_cannot_be_retried_yet():
    history = EventHistory("lead.created", None, [attempt("d-fin", "financeiro", 1, "dead_lettered")])
    (fin,) = deliveries(history, [])
    assert (fin.now, fin.retryable) == ("dead-lettered", False)


def test_a_retried_delivery_that_succeeded_is_delivered():
    history = EventHistory(
        "lead.created",
        None,
        [attempt("d-fin", "financeiro", 1, "dead_lettered"), attempt("d-fin", "financeiro", 2, "delivered")],
    )
    (fin,) = deliveries(history, [dead("d-fin", status="replayed")])
    assert (fin.now, fin.retryable) == ("delivered", False)
    assert decision(history) == "accepted; the router's decision is not archived yet"


def test_a_tenants_key_sees_its_own_deliveries_and_dead_letters_and_a_platform_key_all():
    figures = {("acme", "crm"): DeliveryFigures(), ("beta", "zapi"): DeliveryFigures()}
    groups = [DeadLetterGroup(t, "crm", "TransientDeliveryError", 1, AT) for t in ("acme", "beta")]
    readings = Readings(AT, DeliverySla(2000, 0.95), {"15m": Window(AT, figures)}, groups, [], [])
    acme = seen_by(readings, "acme")
    assert not isinstance(acme.deliveries, Unavailable) and not isinstance(acme.dead_letters, Unavailable)
    assert list(acme.deliveries["15m"].figures) == [("acme", "crm")]
    assert [group.tenant_id for group in acme.dead_letters] == ["acme"]
    assert seen_by(readings, None) is readings
    away = Unavailable("unreachable", "OperationalError")
    assert seen_by(Readings(AT, readings.sla, away, away, [], away), "acme").deliveries is away
