"""A rest destination with OAuth2 client credentials, delivered to by a real `crmbus worker`:
while its token server expires tokens every few seconds, deliveries keep flowing, each arrives
once, no call ever carries an expired token, and the token endpoint is asked once per expiry."""

from __future__ import annotations

import time
from collections import Counter

from infra.db.endpoints import Endpoints
from infra.db.routes import Routes
from tests.fakes.oauth2_server import CLIENT_ID, CLIENT_SECRET, FakeOAuth2, in_thread
from tests.integration.test_delivery import until
from tests.integration.worker_harness import Bus, event, example

LIFETIME_S = 3.0
"""The client renews with 1 s left (``connectors.rest.auth.MIN_SKEW_S``): a new token every 2 s."""
SENDING_S = 9.0


def test_deliveries_flow_across_token_expiries_with_one_token_request_per_expiry(bus: Bus):
    fake = FakeOAuth2(lifetime_s=LIFETIME_S)
    with in_thread(fake) as url:
        config = {
            "auth": {"type": "oauth2_client_credentials", "token_url": "/oauth/token", "client_id": CLIENT_ID},
            "actions": {"upsert_payment": {"method": "PUT", "path": "/v1/payments/{id}"}},
        }
        Endpoints(bus.engine, bus.box(), actor="test").add(
            bus.tenant, "pagamentos", "rest", url, config=config, secret=CLIENT_SECRET
        )
        Routes(bus.engine, actor="test").add(
            bus.tenant,
            "payment.received",
            "pagamentos",
            "rest.upsert_payment",
            mapping={"fields": {"id": {"from": "$event.id"}, "amount_cents": {"from": "amount_cents"}}},
        )
        running = bus.workers(CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true").start()
        sent = []
        try:
            started = time.monotonic()
            while time.monotonic() - started < SENDING_S:
                batch = [event(bus.tenant, "payment.received", example("payment.received")) for _ in range(3)]
                bus.lane.send(batch)
                sent += batch
                expected = len(sent)
                until(lambda: len(fake.calls) >= expected, 30, "the batch at the payments system")  # noqa: B023
                time.sleep(0.5)  # paces the scenario across expiries; nothing waits on it
            until(lambda: len(fake.calls) >= len(sent), 60, "every delivery at the payments system")
        finally:
            running.stop()

    arrived = Counter(call.path.rsplit("/", 1)[-1] for call in fake.calls)
    assert arrived == Counter(str(e.event_id) for e in sent)  # each delivery once, none lost
    assert all(call.method == "PUT" for call in fake.calls)
    assert fake.refused == 0  # no call carried an expired token: renewed before each expiry
    tokens_used = {call.token for call in fake.calls}
    assert len(fake.token_requests) == len(tokens_used) >= 3  # several expiries, every token fetched was used
    # Once per expiry: each renewal came when the token before it was near its end, never while
    # it was fresh (a second request for the same expiry would find it with ~LIFETIME_S left).
    assert fake.token_requests[0].previous_left_s is None
    assert all(r.previous_left_s < LIFETIME_S / 2 for r in fake.token_requests[1:])
    assert {r.client_auth for r in fake.token_requests} == {"basic"}
