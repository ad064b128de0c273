"""A real `crmbus worker`'s output is JSON lines only, and a delivery parked in a long retry tier
is not an error: no start-up banner, no terminal escapes, no Faust stall alarm ("has not
committed", "stream stopped processing") about the tier's partition its agent holds."""

from __future__ import annotations

import json
import re

import pytest

from infra.db.endpoints import Endpoints
from infra.devtools.sandbox import SandboxClient
from streams.deadlines import wait_until
from tests.integration.worker_harness import Bus, TopicReader, event, example

# Faust's own stall checks, shortened through Faust's environment variables so that within the
# test they run many times past their timeouts; the worker's other settings are an operator's.
FAUST_CHECKS_AFTER_S = "2"
CHECKS_SEEN = 3  # Faust checks each partition every 2.5 s: 3 checks is 5 s past the timeouts
TERMINAL = re.compile(r"\x1b|[\x00-\x08\x0b-\x1f\x7f]")  # escapes and control characters (\t aside)
# Faust's slow-processing alarms (faust/transport/drivers/aiokafka.py, SLOW_PROCESSING_*).
STALL_ALARMS = ("has not committed", "stream stopped processing", "stopped fetching", "has not started processing")
SKIPPED = "stall check skipped on "


@pytest.fixture
def parked(bus: Bus, sandbox: SandboxClient) -> Bus:
    """The tenant's destinations point at the sandbox; marketing fails, and retries its
    deliveries from the one-hour tier only."""
    sandbox.clear()
    endpoints = Endpoints(bus.engine, bus.box(), actor="test")
    for system in ("crm", "financeiro", "zapi", "email", "marketing"):
        sandbox.heal(system)
        endpoints.update(bus.tenant, system, url=sandbox.url_of(system), secret=f"sandbox-{system}-token")
    sandbox.fail("marketing", status=503)
    endpoints.update(bus.tenant, "marketing", config={"retry": {"max_attempts": 3, "tiers": ["1h"]}})
    return bus


def entries(raw: bytes) -> list[dict]:
    """The JSON objects among ``raw``'s lines (what is not one is judged by the test itself)."""
    found = []
    for line in raw.decode(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            found.append(entry)
    return found


def alarms_about(logged: list[dict], topic: str) -> list[dict]:
    """Faust's stall alarms about ``topic``'s partitions. About the tier only: elsewhere, a sink's
    call of more than the shortened 2 s is a stall as Faust sees it, and rightly alarmed."""
    return [e for e in logged if topic in str(e.get("event")) and any(a in e["event"].lower() for a in STALL_ALARMS)]


def skipped_checks(raw: bytes, topic: str) -> list[dict]:
    return [e for e in entries(raw) if str(e.get("event")).startswith(f"{SKIPPED}{topic}[")]


def test_a_worker_with_a_delivery_parked_in_a_long_tier_writes_json_lines_only_and_no_stall_alarm(parked):
    tier_topic = parked.topic("crmbus.retry.1h")
    tier = TopicReader(parked.settings.kafka_bootstrap, [tier_topic])
    running = parked.workers(
        CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true",
        CRMBUS_LOG_LEVEL="debug",  # every line a worker may write, and the skipped checks
        CRMBUS_WORKER_BATCH_MAX="1",  # the tier's agent holds one record, the others wait behind it
        STREAM_PROCESSING_TIMEOUT=FAUST_CHECKS_AFTER_S,
        BROKER_COMMIT_LIVELOCK_SOFT_TIMEOUT=FAUST_CHECKS_AFTER_S,
    ).start()
    try:
        leads = [
            event(parked.tenant, "lead.created", example("lead.created", marketing_consent=True)) for _ in range(8)
        ]
        parked.lane.send(leads)
        tier.poll_until(lambda seen: len(seen) == len(leads), 90, "every marketing delivery parked in the 1h tier")

        def checked_or_alarmed() -> bool:
            raw = running.log_path.read_bytes()
            return len(skipped_checks(raw, tier_topic)) >= CHECKS_SEEN or bool(alarms_about(entries(raw), tier_topic))

        wait_until(checked_or_alarmed, 60, "Faust's stall check to pass the held tier's partitions several times")
        assert running.proc is not None and running.proc.poll() is None, running.log()
    finally:
        running.stop()
        tier.close()
    raw = running.log_path.read_bytes()
    text = raw.decode(errors="replace")
    lines = text.splitlines()
    assert TERMINAL.search(text.replace("\n", "")) is None, "terminal escapes or control characters in the output"
    assert [line for line in lines if not line.startswith("{")] == []  # no banner, no raw text
    logged = entries(raw)
    assert len(logged) == len(lines) > 0
    assert all({"event", "level", "timestamp"} <= entry.keys() for entry in logged)
    assert alarms_about(logged, tier_topic) == []
    assert {e["level"] for e in skipped_checks(raw, tier_topic)} == {"debug"}
