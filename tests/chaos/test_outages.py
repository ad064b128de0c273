"""The broker, then PostgreSQL, stopped under load and started again, each a server of the test's
own (free ports, private state; the session's are never touched): the worker rides it out, every
event Kafka acknowledged reaches every destination and none takes effect twice."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import SecretStr

from bench.chaos_harness import Disruption, Stage, Verdict, Worker, own_kafka, own_postgres, run_load, stage
from infra.db.engine import database_url, make_engine
from infra.db.migrate import upgrade
from tests.chaos.conftest import tenants_of

RATE = 20.0
DURATION_S = 35.0
OUTAGE = (8.0, 23.0)  # seconds after the load started: stopped, started again
# A 20 s outage once wrote ~2,000 lines per worker process (aiokafka's retries); one line per
# state change, and the libraries' repeats once a minute, leave a few dozen at most.
QUIET_LOG_LINES = 100


def _outage(
    stage_: Stage, scenario: str, stop: Callable[[], object], start: Callable[[], object]
) -> tuple[Verdict, list[str]]:
    """The verdict on the load, and the worker's log lines."""
    worker = Worker(stage_, "host")
    with worker.start():
        run = run_load(
            stage_, tag=1, rate=RATE, duration_s=DURATION_S,
            disruptions=[Disruption(OUTAGE[0], stop, "stopped"), Disruption(OUTAGE[1], start, "started")],
            drain_s=150.0,
        )  # fmt: skip
    verdict = run.verdict(scenario, moments=[1])  # resumption after it was started again
    print(verdict.row())
    assert verdict.accepted >= int(DURATION_S * RATE * 0.9), verdict
    return verdict, worker.log_path.read_text(errors="replace").splitlines()


def test_the_broker_stopped_under_load(settings, migrated, ledger, unique, tmp_path):
    with own_kafka(tmp_path / "kafka") as broker:
        ours = settings.model_copy(update={"kafka_bootstrap": broker.settings.kafka_bootstrap})
        on_own_broker = stage(ours, migrated, ledger, tmp_path, tenants_of(unique))
        verdict, log = _outage(on_own_broker, "broker stopped 15 s", broker.down, broker.up)
    assert verdict.lost == 0, verdict
    assert verdict.effective_duplicates == 0, verdict
    assert len(log) <= QUIET_LOG_LINES, "\n".join(log[-20:])


def test_postgresql_stopped_under_load(settings, ledger, unique, tmp_path):
    with own_postgres() as (database, url):
        ours = settings.model_copy(update={"database_url": SecretStr(url)})
        engine = make_engine(database_url(ours))
        try:
            upgrade(engine)
            on_own_database = stage(ours, engine, ledger, tmp_path, tenants_of(unique))
        finally:
            engine.dispose()
        verdict, _ = _outage(on_own_database, "PostgreSQL stopped 15 s", database.down, database.up)
    assert verdict.lost == 0, verdict
    assert verdict.effective_duplicates == 0, verdict
