"""Sync jobs in real `crmbus worker` processes: a loopback Operação (the shared plan's offset list
contract, bearer auth) is pulled page by page and each service reaches the sandbox's Financeiro
once. Two worker processes run a tick once; a worker killed with SIGKILL while a page is in
flight is replaced by another that resumes at the stored position, with no gap and no duplicate
at the destination; a source failing twice in a row raises the failure gauge the
`CrmbusJobFailing` alert reads. The three default jobs run on compressed schedules against the
sandbox's own Operação, Agenda and Cuidadores (OAuth2) contracts."""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.db.endpoints import Endpoints
from infra.db.models import JobRun
from infra.db.sync_jobs import SyncJobs
from infra.devtools.sandbox import SandboxClient
from streams.deadlines import wait_until
from streams.sync_jobs import DEFAULT_SYNC_JOBS, claim_name
from tests.integration.operacao_stub import TOKEN, Operacao, serving
from tests.integration.worker_harness import CRMBUS, Bus, Workers, worker_env

pytestmark = pytest.mark.integration

FAST = {
    "CRMBUS_OUTBOUND_ALLOW_LOOPBACK": "true",
    "CRMBUS_JOBS_CHECK_S": "0.3",
    "CRMBUS_SYNC_CHECK_S": "0.3",
    "CRMBUS_JOBS_LEASE_S": "4",
}
SOURCE = {
    "endpoint": "operacao",
    "path": "/v1/services",
    "records_at": "items",
    "query": {"status": "completed"},
    "page_size": 2,
    "pagination": {"style": "offset", "total": "total"},
    "changes": {"style": "updated_since"},
}
DESTINATION = {
    "endpoint": "financeiro",
    "action": "financeiro.create_invoice",
    "mapping": {"fields": {"service_id": {"from": "id"}, "client_id": {"from": "client_id"}}},
}


@pytest.fixture
def operacao() -> Iterator[tuple[Operacao, str]]:
    source = Operacao(
        [{"id": f"S-{n}", "client_id": f"C-{n}", "updated_at": f"2026-12-05T10:0{n}:00Z"} for n in range(5)]
    )
    with serving(source) as url:
        yield source, url


@pytest.fixture
def wired(bus: Bus, sandbox: SandboxClient, operacao) -> Bus:
    """The tenant's Financeiro is the sandbox's; its Operação is the test's loopback server."""
    sandbox.clear()
    sandbox.heal("financeiro")
    endpoints = Endpoints(bus.engine, bus.box(), actor="test")
    endpoints.update(bus.tenant, "financeiro", url=sandbox.url_of("financeiro"), secret="sandbox-financeiro-token")
    endpoints.update(bus.tenant, "operacao", url=operacao[1], secret=TOKEN)  # a seeded rest system, bearer auth
    return bus


def _job(bus: Bus, name: str, every_s: int = 86_400):
    """One of the tenant's default jobs, pulling the test's Operação on a compressed schedule, enabled."""
    return SyncJobs(bus.engine).update(
        bus.tenant, name, source=SOURCE, destination=DESTINATION, schedule={"every_s": every_s}, enabled=True
    )


def _invoiced(sandbox: SandboxClient) -> list[str]:
    return sorted(r.body["service_id"] for r in sandbox.applied("financeiro"))


def _runs(bus: Bus, job_id) -> list[JobRun]:
    with Session(bus.engine) as session:
        return list(session.scalars(select(JobRun).where(JobRun.job == claim_name(job_id))))


def _gauge(port: int, label: str) -> float | None:
    for line in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text.splitlines():
        if line.startswith(f'crmbus_job_consecutive_failures{{job="{label}"}}'):
            return float(line.split()[-1])
    return None


def test_two_worker_processes_run_a_tick_once_and_each_service_is_invoiced_once(wired, sandbox, operacao):
    source, _ = operacao
    job = _job(wired, "servico-faturamento")
    workers = wired.workers(processes=2, **FAST).start()
    try:
        wait_until(lambda: _invoiced(sandbox) == [f"S-{n}" for n in range(5)], 60, "five invoices")
        wait_until(lambda: all(run.finished_at for run in _runs(wired, job.id)), 30, "the run finished")
        runs = _runs(wired, job.id)
        assert [(run.outcome, run.details) for run in runs] == [("succeeded", {"records": 5})]
        assert source.asked == [0, 2, 4]  # one run, three pages, whichever process ran it
        stored = SyncJobs(wired.engine).get(wired.tenant, "servico-faturamento")
        assert (stored.position, stored.last_records) == (None, 5)
        assert stored.watermark is not None and stored.watermark["updated_since"] == "2026-12-05T10:04:00Z"
    finally:
        workers.stop()
    assert len(sandbox.applied("financeiro")) == 5


def test_a_worker_killed_mid_run_is_resumed_by_another_with_no_gap_and_no_duplicate(wired, sandbox, operacao):
    source, _ = operacao
    source.hold_offset = 4  # the third page: two pages delivered and stored before it
    job = _job(wired, "servico-faturamento")
    first = wired.workers(**FAST).start()
    try:
        wait_until(source.holding.is_set, 60, "the third page asked for")
        stored = SyncJobs(wired.engine).get(wired.tenant, "servico-faturamento")
        assert stored.position is not None and stored.position["offset"] == 4
    finally:
        first.kill()
    source.release.set()
    asked_before = len(source.asked)
    second: Workers = wired.workers(**FAST).start()
    try:
        wait_until(lambda: _invoiced(sandbox) == [f"S-{n}" for n in range(5)], 60, "five invoices")
        wait_until(lambda: all(run.finished_at for run in _runs(wired, job.id)), 30, "the run finished")
        assert source.asked[asked_before:] == [4]  # resumed at the stored page, not from the start
        assert [run.outcome for run in _runs(wired, job.id)] == ["succeeded"]  # the same tick, taken over
    finally:
        second.stop()
    assert len(sandbox.applied("financeiro")) == 5


def test_a_job_whose_source_fails_twice_in_a_row_raises_the_failure_gauge(wired, operacao):
    source, _ = operacao
    source.failing = True
    job = _job(wired, "cuidadores-crm", every_s=10)
    workers = wired.workers(**FAST).start()
    try:
        wait_until(
            lambda: SyncJobs(wired.engine).get(wired.tenant, "cuidadores-crm").consecutive_failures >= 2,
            40,
            "two failed runs",
        )
        wait_until(lambda: (_gauge(wired.port, "sync:cuidadores-crm") or 0) >= 2, 10, "the gauge at 2")
        failed = [run for run in _runs(wired, job.id) if run.outcome == "failed"]
        assert len(failed) >= 2
        assert {run.details["error"] for run in failed} == {"TransientDeliveryError"}
        assert SyncJobs(wired.engine).get(wired.tenant, "cuidadores-crm").last_error == "TransientDeliveryError"
    finally:
        workers.stop()


def _synced(bus: Bus, name: str) -> list[JobRun]:
    """The finished runs of one of the tenant's default jobs, oldest tick first."""
    job = SyncJobs(bus.engine).get(bus.tenant, name)
    return sorted((run for run in _runs(bus, job.id) if run.finished_at), key=lambda run: run.tick)


def test_the_three_default_jobs_run_on_compressed_schedules_against_the_sandbox_systems(bus, sandbox):
    """As shipped but every 10 s: Operação's completed services (offset pages) become Financeiro
    invoices, Agenda's appointments (cursor pages) are put to Operação through the rest kind, and
    Cuidadores' caregivers (Link pages, OAuth2) become CRM leads. A later tick reads only what
    changed: an appointment booked between ticks reaches Operação, and nothing else goes twice."""
    sandbox.clear()
    endpoints = Endpoints(bus.engine, bus.box(), actor="test")
    for system in ("financeiro", "crm", "operacao", "agenda", "cuidadores"):
        sandbox.heal(system)
        endpoints.update(bus.tenant, system, url=sandbox.url_of(system), secret=f"sandbox-{system}-token")
    jobs = SyncJobs(bus.engine)
    for name, shipped in DEFAULT_SYNC_JOBS.items():  # two a page, so every style turns pages
        jobs.update(
            bus.tenant, name, source={**shipped["source"], "page_size": 2}, schedule={"every_s": 10}, enabled=True
        )
    workers = bus.workers(**FAST).start()
    try:
        for name in DEFAULT_SYNC_JOBS:
            wait_until(lambda name=name: len(_synced(bus, name)) >= 1, 90, f"{name}'s first tick")
        assert len(sandbox.applied("financeiro")) == 4  # the completed services of the six
        assert len(sandbox.applied("crm")) == 5
        assert len([r for r in sandbox.applied("operacao") if r.action == "operacao.upsert_appointment"]) == 5
        booked = httpx.post(
            f"{sandbox.url_of('agenda')}/v1/appointments",
            json={"client_id": "C-9", "starts_at": "2026-12-20T13:00:00Z"},
            headers={"Authorization": "Bearer sandbox-agenda-token"},
            timeout=10,
        )
        assert booked.status_code == 201, booked.text
        new_id = booked.json()["id"]
        for name in DEFAULT_SYNC_JOBS:
            wait_until(lambda name=name: len(_synced(bus, name)) >= 3, 90, f"{name}'s third tick")
    finally:
        workers.stop()
    for name in DEFAULT_SYNC_JOBS:
        runs = _synced(bus, name)
        assert {run.outcome for run in runs} == {"succeeded"}, name
        ticks = [run.tick for run in runs]
        assert len(ticks) == len(set(ticks)), name  # each tick ran once
        assert all((later - earlier).total_seconds() % 10 == 0 for earlier, later in itertools.pairwise(ticks)), name
    put = [r for r in sandbox.applied("operacao") if r.action == "operacao.upsert_appointment"]
    assert sorted(r.path.rsplit("/", 1)[-1] for r in put) == sorted([*(f"AGD-{n}" for n in range(5)), new_id])
    assert len(sandbox.applied("financeiro")) == 4
    assert len(sandbox.applied("crm")) == 5
    every = [r.idempotency_key for system in ("financeiro", "crm") for r in sandbox.applied(system)]
    every += [r.idempotency_key for r in put]
    assert None not in every
    assert len(every) == len(set(every))  # later ticks read the boundary record again; the sink skipped it


def test_the_sync_commands_list_run_now_through_the_claim_pause_resume_and_show_history(wired, operacao):
    source, _ = operacao
    SyncJobs(wired.engine).update(wired.tenant, "servico-faturamento", source=SOURCE, destination=DESTINATION)
    env = worker_env(
        wired.settings, wired.tmp / "state", wired.port,
        CRMBUS_SECRET_KEY=wired.secret_key, CRMBUS_OUTBOUND_ALLOW_LOOPBACK="true",
    )  # fmt: skip

    def crmbus(*args: str) -> tuple[int, str]:
        done = subprocess.run(
            [CRMBUS, "sync", *args], env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=120
        )
        return done.returncode, done.stdout + done.stderr

    code, listed = crmbus("list", "--tenant", wired.tenant)
    assert code == 0
    assert all(name in listed for name in DEFAULT_SYNC_JOBS)
    ran = crmbus("run", "--tenant", wired.tenant, "--name", "servico-faturamento")
    assert ran == (0, f"{wired.tenant}/servico-faturamento: succeeded, 5 records\n")
    assert source.asked == [0, 2, 4]
    code, shown = crmbus("history", "--tenant", wired.tenant, "--name", "servico-faturamento")
    assert code == 0
    assert "succeeded" in shown and "records=5" in shown
    assert crmbus("resume", "--tenant", wired.tenant, "--name", "servico-faturamento")[0] == 0
    assert SyncJobs(wired.engine).get(wired.tenant, "servico-faturamento").enabled
    assert crmbus("pause", "--tenant", wired.tenant, "--name", "servico-faturamento")[0] == 0
    assert not SyncJobs(wired.engine).get(wired.tenant, "servico-faturamento").enabled
    missing = crmbus("run", "--tenant", wired.tenant, "--name", "no-such-job")
    assert missing[0] == 1
    assert "has no sync job named 'no-such-job'" in missing[1]
