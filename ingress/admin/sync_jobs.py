"""A tenant's sync jobs over the admin API: what ``crmbus sync list|run|pause|resume|history`` does
(``infra.db.sync_jobs``, ``agents.sync``).

Sync jobs are the tenant's configuration, like its destinations and routes, changed by the same
people: reading them needs ``config:read``, changing, pausing, resuming and running them
``config:write``. A job's definition is checked whole (``checked_definition``); a wrong one is
422 naming the field (``source.pagination``, ``schedule.cron``...).

``run`` runs a job now as ``crmbus sync run`` does: it claims (``sync:<job id>``, this second) in
``job_runs`` (a second ask within the same second is 409) and answers 202 at once; the run goes
on in this process's background through the workers' own ``SyncRunner.run_claimed``, from the
job's stored position, and shows in ``.../runs`` when it ends. A dashboard stopped mid-run
leaves the run unfinished in the history; the next run resumes from its last stored page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from infra.db.job_runs import JobRunView
from infra.db.sync_jobs import SyncJobView, checked_definition
from ingress.admin import schemas as s
from ingress.admin.table import Answer, Call, Operation, Page, not_found
from ingress.http.problems import Problem
from streams.errors import ConfigurationError, InvalidRouteError
from streams.sync_jobs import MIN_INTERVAL_S, claim_name


def _when(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _job(view: SyncJobView, now: datetime) -> dict[str, Any]:
    return {
        "id": str(view.id), "tenant_id": view.tenant_id, "name": view.name, "enabled": view.enabled,
        "source": dict(view.source), "destination": dict(view.destination), "schedule": view.schedule.to_config(),
        "next_run_at": _when(view.schedule.next_run(now)) if view.enabled else None,
        "last_run_at": _when(view.last_run_at), "last_success_at": _when(view.last_success_at),
        "last_outcome": view.last_outcome, "last_error": view.last_error, "last_records": view.last_records,
        "consecutive_failures": view.consecutive_failures, "position": view.position, "watermark": view.watermark,
    }  # fmt: skip


def _run(view: JobRunView) -> dict[str, Any]:
    return {"tick": view.tick.isoformat(), "owner": view.owner, "claimed_at": view.claimed_at.isoformat(),
            "finished_at": _when(view.finished_at), "outcome": view.outcome, "details": view.details}  # fmt: skip


def _checked(source: Mapping[str, Any], destination: Mapping[str, Any], schedule: Mapping[str, Any]) -> None:
    """422 naming the field of the definition that is wrong (its message never quotes a value)."""
    try:
        checked_definition(source, destination, schedule)
    except InvalidRouteError as exc:  # the destination's mapping, checked as a route's
        field = f"destination.{exc.field or 'mapping'}"
        raise Problem(422, "invalid-request", "Invalid request", f"destination.{exc}", field=field) from None
    except ConfigurationError as exc:
        raise Problem(422, "invalid-request", "Invalid request", str(exc), field=exc.field) from None


async def _find(call: Call) -> SyncJobView:
    try:
        return await call.run(lambda: call.repos.sync_jobs.get(call.tenant_id, call.path["name"]))
    except ConfigurationError:
        raise not_found("sync job") from None


async def list_sync_jobs(call: Call) -> Answer:
    now = datetime.now(UTC)
    return Answer(200, [_job(view, now) for view in await call.run(lambda: call.repos.sync_jobs.list(call.tenant_id))])


async def get_sync_job(call: Call) -> Answer:
    return Answer(200, _job(await _find(call), datetime.now(UTC)))


async def create_sync_job(call: Call) -> Answer:
    body, jobs = call.body, call.repos.sync_jobs
    _checked(body["source"], body["destination"], body["schedule"])
    if any(view.name == body["name"] for view in await call.run(lambda: jobs.list(call.tenant_id))):
        raise Problem(409, "conflict", "Conflict", "the tenant has a sync job with this name")
    view = await call.run(
        lambda: jobs.add(
            call.tenant_id, body["name"], source=body["source"], destination=body["destination"],
            schedule=body["schedule"], enabled=body.get("enabled", False),
        )
    )  # fmt: skip
    location = f"/v1/tenants/{view.tenant_id}/sync-jobs/{view.name}"
    return Answer(201, _job(view, datetime.now(UTC)), {"Location": location})


async def update_sync_job(call: Call) -> Answer:
    current, body = await _find(call), call.body
    _checked(
        body.get("source", current.source),
        body.get("destination", current.destination),
        body.get("schedule", current.schedule.to_config()),
    )
    view = await call.run(
        lambda: call.repos.sync_jobs.update(
            call.tenant_id, current.name, source=body.get("source"), destination=body.get("destination"),
            schedule=body.get("schedule"), enabled=body.get("enabled"),
        )
    )  # fmt: skip
    return Answer(200, _job(view, datetime.now(UTC)))


async def _set_enabled(call: Call, enabled: bool) -> Answer:
    current = await _find(call)
    view = await call.run(lambda: call.repos.sync_jobs.update(call.tenant_id, current.name, enabled=enabled))
    return Answer(200, _job(view, datetime.now(UTC)))


async def pause_sync_job(call: Call) -> Answer:
    return await _set_enabled(call, False)


async def resume_sync_job(call: Call) -> Answer:
    return await _set_enabled(call, True)


async def run_sync_job(call: Call) -> Answer:
    job = await _find(call)
    tick = datetime.now(UTC).replace(microsecond=0)
    if not await call.run(lambda: call.state.job_runs.claim(claim_name(job.id), tick)):
        raise Problem(409, "run-claimed", "Run claimed", "a run of this job was claimed this second; ask again")
    await call.run(lambda: call.repos.sync_jobs.note_run(job, tick))
    call.state.sync_runs.start(job, tick)
    location = f"/v1/tenants/{job.tenant_id}/sync-jobs/{job.name}/runs"
    return Answer(202, {"name": job.name, "tick": tick.isoformat(), "outcome": None}, {"Location": location})


async def list_sync_runs(call: Call) -> Answer:
    job = await _find(call)
    start = call.cursor or 0
    found = await call.run(lambda: call.state.job_runs.recent(claim_name(job.id), call.limit + 1, offset=start))
    more = len(found) > call.limit
    return Answer(200, Page([_run(view) for view in found[: call.limit]], start + call.limit if more else None))


_T = "/tenants/{tenant_id}"
_NAME = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"}
_JOB = {"name": "name", "in": "path", "required": True, "schema": _NAME}
_SCHEDULE = s.obj(
    [],
    {"cron": {"type": "string", "minLength": 9, "maxLength": 100, "description": "Five fields, UTC"},
     "every_s": {"type": "integer", "minimum": MIN_INTERVAL_S, "maximum": 366 * 24 * 3600}},
    minProperties=1, maxProperties=1, description="Exactly one of cron, every_s",
)  # fmt: skip
_SOURCE = s.ANY_OBJECT | {
    "required": ["endpoint", "path"],
    "properties": {
        "endpoint": _NAME | {"description": "The tenant's destination whose URL, auth and secret it reads"},
        "path": {"type": "string", "minLength": 1, "maxLength": 2000},
    },
    "description": "Where records are pulled from, page by page (docs/operations.md#sync-jobs)",
}
_DESTINATION = s.ANY_OBJECT | {
    "required": ["endpoint", "action"],
    "properties": {"endpoint": _NAME, "action": {"type": "string", "minLength": 1, "maxLength": 100},
                   "mapping": s.ANY_OBJECT},
    "description": "The destination each record is delivered to, with the action and mapping a route has",
}  # fmt: skip
SYNC_JOB = s.obj(
    ["id", "tenant_id", "name", "enabled", "source", "destination", "schedule", "next_run_at", "last_run_at",
     "last_success_at", "last_outcome", "last_error", "last_records", "consecutive_failures", "position",
     "watermark"],
    {"id": s.UUID, "tenant_id": {"type": "string"}, "name": {"type": "string"}, "enabled": {"type": "boolean"},
     "source": s.ANY_OBJECT, "destination": s.ANY_OBJECT, "schedule": s.ANY_OBJECT,
     "next_run_at": s.MAYBE_WHEN | {"description": "The schedule's next tick; null while paused"},
     "last_run_at": s.MAYBE_WHEN, "last_success_at": s.MAYBE_WHEN,
     "last_outcome": {"enum": ["succeeded", "failed", None]},
     "last_error": {"type": ["string", "null"], "description": "The failed run's error class"},
     "last_records": {"type": "integer"}, "consecutive_failures": {"type": "integer"},
     "position": {"type": ["object", "null"], "description": "Opaque: where an unfinished run resumes"},
     "watermark": {"type": ["object", "null"], "description": "Opaque: the change cursor the next run reads from"}},
    closed=False,
)  # fmt: skip
NEW_SYNC_JOB = s.obj(
    ["name", "source", "destination", "schedule"],
    {"name": _NAME, "source": _SOURCE, "destination": _DESTINATION, "schedule": _SCHEDULE,
     "enabled": {"type": "boolean", "description": "Default false; enabled, it runs its latest tick at once"}},
)  # fmt: skip
SYNC_JOB_PATCH = s.obj(
    [],
    {"source": _SOURCE | {"description": "A new source starts from the beginning (no position, no watermark)"},
     "destination": _DESTINATION, "schedule": _SCHEDULE, "enabled": {"type": "boolean"}},
    minProperties=1,
)  # fmt: skip
RUN_STARTED = s.obj(
    ["name", "tick", "outcome"],
    {"name": {"type": "string"}, "tick": s.WHEN | {"description": "The run's tick in the history"},
     "outcome": {"type": "null", "description": "Not yet: the run goes on in the background"}},
)  # fmt: skip
SYNC_RUN = s.obj(
    ["tick", "owner", "claimed_at", "finished_at", "outcome", "details"],
    {"tick": s.WHEN, "owner": {"type": "string", "description": "The process that ran it (host:pid)"},
     "claimed_at": s.WHEN, "finished_at": s.MAYBE_WHEN,
     "outcome": {"enum": ["succeeded", "failed", None], "description": "null: running (or its process died)"},
     "details": s.ANY_OBJECT | {"description": "records, and error (its class) when it failed"}},
)  # fmt: skip

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", f"{_T}/sync-jobs", "config:read", list_sync_jobs,
              "List the tenant's sync jobs: schedule, next run, last outcome, position and watermark", "list",
              SYNC_JOB),
    Operation("POST", f"{_T}/sync-jobs", "config:write", create_sync_job, "Add a sync job", "single", SYNC_JOB,
              NEW_SYNC_JOB, status=201, errors=(409,)),
    Operation("GET", f"{_T}/sync-jobs/{{name}}", "config:read", get_sync_job, "Show a sync job", "single", SYNC_JOB,
              parameters=[_JOB]),
    Operation("PATCH", f"{_T}/sync-jobs/{{name}}", "config:write", update_sync_job,
              "Change a sync job's source, destination, schedule or enabled", "single", SYNC_JOB, SYNC_JOB_PATCH,
              current=get_sync_job, parameters=[_JOB]),
    Operation("POST", f"{_T}/sync-jobs/{{name}}/pause", "config:write", pause_sync_job,
              "Pause a sync job: no more scheduled runs (a run under way finishes); its position is kept",
              "action", SYNC_JOB, parameters=[_JOB]),
    Operation("POST", f"{_T}/sync-jobs/{{name}}/resume", "config:write", resume_sync_job,
              "Resume a sync job: it runs its latest tick at the workers' next look", "action", SYNC_JOB,
              parameters=[_JOB]),
    Operation("POST", f"{_T}/sync-jobs/{{name}}/run", "config:write", run_sync_job,
              "Run a sync job now (paused or not), in the background; its outcome shows in its runs", "action",
              RUN_STARTED, status=202, parameters=[_JOB], errors=(409,)),
    Operation("GET", f"{_T}/sync-jobs/{{name}}/runs", "config:read", list_sync_runs,
              "A sync job's runs, newest first", "list", SYNC_RUN, parameters=[_JOB]),
)  # fmt: skip
