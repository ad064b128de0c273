"""The admin API's sync jobs on the real PostgreSQL and Kafka: a job is created, listed, shown and
changed with its ETag, paused and resumed, every change audited as the key that made it; a
wrong definition is 422 problem+json naming its field and stores nothing; "run now" answers 202
and the run, in the dashboard process's background through the workers' own runner, pulls a
loopback Operação and shows in the job's history, newest first, a page at a time; another
tenant's key sees and touches none of it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.job_runs import JobRuns
from infra.db.models import AuditLog
from infra.db.sync_jobs import SyncJobs
from schemas.topic_names import TopicNames
from streams.deadlines import wait_until
from streams.sync_jobs import claim_name
from tests.integration.admin_harness import SYNC_DESTINATION, World, running_admin
from tests.integration.operacao_stub import TOKEN, Operacao, serving

pytestmark = pytest.mark.integration

SERVICES = [{"id": f"S-{n}", "updated_at": f"2026-12-05T10:0{n}:00Z"} for n in range(3)]
SOURCE = {
    "endpoint": "operacao", "path": "/v1/services", "records_at": "items", "page_size": 2,
    "pagination": {"style": "offset", "total": "total"}, "changes": {"style": "updated_since"},
}  # fmt: skip
JOBS = "/v1/tenants/acme/sync-jobs"


@pytest.fixture(scope="module")
def world(kafka_bootstrap, database_url) -> Iterator[World]:
    with (
        serving(Operacao(SERVICES)) as url,
        running_admin(kafka_bootstrap, database_url, outbound_allow_loopback=True) as running,
    ):
        running.repositories["destinations"].add(
            "acme", "operacao", "webhook", url, config={"auth": {"type": "bearer"}}, secret=TOKEN
        )
        kafka = AdminClient({"bootstrap.servers": kafka_bootstrap})
        topic = TopicNames(f"{running.schema}.").deliver("webhook")
        for future in kafka.create_topics([NewTopic(topic, 1, 1)]).values():
            future.result()
        try:
            yield running
        finally:
            for future in kafka.delete_topics([topic], operation_timeout=30).values():
                future.result()


def _new(name: str, **more) -> dict:
    return {"name": name, "source": SOURCE, "destination": SYNC_DESTINATION, "schedule": {"every_s": 3600}} | more


def _audited(world: World, action: str, job_id: str) -> list[str]:
    with Session(world.engine) as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == action, AuditLog.target_id == job_id))
        return [row.actor for row in rows]


def _key_of(world: World, tenant: str) -> str:
    return "key:" + str(next(k.id for k in world.repositories["api_keys"].list(tenant) if k.name == "full"))


def test_a_job_is_created_listed_shown_and_changed_with_its_etag_each_change_audited(world):
    key = world.full["acme"]
    made = world.call("POST", JOBS, key, json=_new("faturas"))
    assert made.status_code == 201, made.text
    assert made.headers["Location"] == f"{JOBS}/faturas"
    job = made.json()
    assert (job["enabled"], job["next_run_at"], job["schedule"], job["position"]) == (
        False,
        None,
        {"every_s": 3600},
        None,
    )
    listed = world.call("GET", JOBS, key).json()["items"]
    assert {"faturas", "agenda-operacao", "cuidadores-crm", "servico-faturamento"} <= {j["name"] for j in listed}
    assert {j["tenant_id"] for j in listed} == {"acme"}
    shown = world.call("GET", f"{JOBS}/faturas", key)
    assert shown.json() == job

    assert world.call("PATCH", f"{JOBS}/faturas", key, json={"enabled": True}).status_code == 428
    changed = world.call(
        "PATCH", f"{JOBS}/faturas", key, json={"enabled": True, "schedule": {"cron": "0 6 * * *"}},
        headers={"If-Match": shown.headers["ETag"]},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["schedule"] == {"cron": "0 6 * * *"}
    assert datetime.fromisoformat(changed.json()["next_run_at"]).hour == 6
    stale = world.call("PATCH", f"{JOBS}/faturas", key, json={"enabled": False},
                       headers={"If-Match": shown.headers["ETag"]})  # fmt: skip
    assert stale.status_code == 412
    assert SyncJobs(world.engine).get("acme", "faturas").enabled
    assert _audited(world, "sync_job.add", job["id"]) == [_key_of(world, "acme")]
    assert _audited(world, "sync_job.update", job["id"]) == [_key_of(world, "acme")]


def test_a_name_in_use_is_409(world):
    assert world.call("POST", JOBS, world.full["acme"], json=_new("agenda-operacao")).status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"schedule": {"cron": "every day at six"}}, "schedule.cron"),
        ({"schedule": {"every_s": 5}}, "schedule.every_s"),
        ({"source": SOURCE | {"pagination": {"style": "telepathy"}}}, "source.pagination.style"),
        ({"source": SOURCE | {"page_size": 0}}, "source.page_size"),
        ({"destination": {"endpoint": "hook"}}, "destination"),
        ({"destination": SYNC_DESTINATION | {"mapping": {"fields": {"x": {"from": 3}}}}}, "destination.mapping"),
    ],
)
def test_a_wrong_definition_is_422_naming_its_field_and_stores_nothing(world, change, field):
    answer = world.call("POST", JOBS, world.full["acme"], json=_new("wrong") | change)
    assert answer.status_code == 422, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["field"].startswith(field), answer.json()
    assert "telepathy" not in answer.text
    assert "wrong" not in {job.name for job in SyncJobs(world.engine).list("acme")}


def test_a_job_is_paused_and_resumed(world):
    key = world.full["acme"]
    world.call("POST", JOBS, key, json=_new("pausavel", enabled=True))
    paused = world.call("POST", f"{JOBS}/pausavel/pause", key).json()
    assert (paused["enabled"], paused["next_run_at"]) == (False, None)
    resumed = world.call("POST", f"{JOBS}/pausavel/resume", key).json()
    assert resumed["enabled"] and datetime.fromisoformat(resumed["next_run_at"]) > datetime.now(UTC)
    assert SyncJobs(world.engine).get("acme", "pausavel").enabled
    assert world.call("POST", f"{JOBS}/nenhum/pause", key).status_code == 404


def test_run_now_answers_202_and_the_background_run_shows_in_the_history(world):
    key = world.full["acme"]
    job = world.call("POST", JOBS, key, json=_new("agora")).json()
    asked = world.call("POST", f"{JOBS}/agora/run", key)
    assert asked.status_code == 202, asked.text
    assert asked.headers["Location"] == f"{JOBS}/agora/runs"
    tick = asked.json()["tick"]

    def finished() -> list[dict]:
        return [run for run in world.call("GET", f"{JOBS}/agora/runs", key).json()["items"] if run["finished_at"]]

    wait_until(lambda: bool(finished()), 30, "the run asked for over the API")
    (run,) = finished()
    assert (run["tick"], run["outcome"], run["details"]) == (tick, "succeeded", {"records": 3}), run
    done = world.call("GET", f"{JOBS}/agora", key).json()
    assert (done["last_outcome"], done["last_records"], done["position"]) == ("succeeded", 3, None)
    assert done["watermark"] == {"updated_since": "2026-12-05T10:02:00Z"}
    assert _audited(world, "sync_job.run", job["id"]) == [_key_of(world, "acme")]


def test_a_failed_run_shows_its_error_class_and_counts_a_failure(world):
    key = world.full["acme"]
    world.call("POST", JOBS, key, json=_new("sem-origem", source=SOURCE | {"endpoint": "nowhere"}))
    assert world.call("POST", f"{JOBS}/sem-origem/run", key).status_code == 202
    wait_until(
        lambda: world.call("GET", f"{JOBS}/sem-origem", key).json()["last_outcome"] == "failed", 30, "the failed run"
    )
    (run,) = world.call("GET", f"{JOBS}/sem-origem/runs", key).json()["items"]
    assert (run["outcome"], run["details"]) == ("failed", {"records": 0, "error": "ConfigurationError"})
    assert world.call("GET", f"{JOBS}/sem-origem", key).json()["consecutive_failures"] == 1


def test_the_history_is_newest_first_a_page_at_a_time(world):
    key = world.full["acme"]
    job = world.call("POST", JOBS, key, json=_new("antigo")).json()
    runs = JobRuns(world.engine, "test:1", lease=timedelta(seconds=60))
    ticks = [datetime(2026, 12, 1, hour, tzinfo=UTC) for hour in range(3)]
    for tick in ticks:
        assert runs.claim(claim_name(job["id"]), tick)
        runs.finish(claim_name(job["id"]), tick, "succeeded", {"records": tick.hour})
    first = world.call("GET", f"{JOBS}/antigo/runs?limit=2", key)
    rest = world.call("GET", f"{JOBS}/antigo/runs?limit=2&cursor={first.json()['next_cursor']}", key).json()
    assert 'rel="next"' in first.headers["Link"]
    shown = [run["tick"] for run in first.json()["items"] + rest["items"]]
    assert shown == [tick.isoformat() for tick in reversed(ticks)]
    assert rest["next_cursor"] is None


def test_another_tenants_key_can_neither_see_nor_touch_the_jobs(world):
    other = world.full["globex"]
    world.call("POST", JOBS, world.full["acme"], json=_new("so-da-acme"))
    for method, path in [
        ("GET", JOBS), ("GET", f"{JOBS}/so-da-acme"), ("GET", f"{JOBS}/so-da-acme/runs"),
        ("POST", f"{JOBS}/so-da-acme/run"), ("POST", f"{JOBS}/so-da-acme/pause"),
    ]:  # fmt: skip
        answer = world.call(method, path, other)
        assert (answer.status_code, answer.headers["Content-Type"]) == (404, "application/problem+json"), path
    answer = world.call("PATCH", f"{JOBS}/so-da-acme", other, json={"enabled": True}, headers={"If-Match": "*"})
    assert answer.status_code == 404
    own = world.call("GET", "/v1/tenants/globex/sync-jobs", other).json()["items"]
    assert "so-da-acme" not in {job["name"] for job in own}
    assert world.call("GET", f"{JOBS}/so-da-acme/runs", world.full["acme"]).json()["items"] == []
    assert not SyncJobs(world.engine).get("acme", "so-da-acme").enabled
