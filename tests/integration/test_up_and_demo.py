"""`crmbus up` runs the whole bus (sandbox, ingress, workers, dashboard, a demo tenant with a key)
on the broker and database it finds; `crmbus demo` then sees every seed flow delivered at the
sandbox, with one destination failing long enough to open its circuit, and the dashboard shows
those deliveries and failures; `crmbus down` or Ctrl-C leaves no process of the bus behind. A
crashed process restarts and `crmbus status` says so; an `up` that fails stops only what it started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

from infra.core.processes import process_cmdline, read_pid, stop_process_group
from infra.core.supervisor import read_status, status_file
from infra.db.api_keys import ApiKeys
from streams.deadlines import wait_until
from tests.conftest import free_port
from tests.integration.worker_harness import CRMBUS

PROCESSES = ("sandbox", "ingress", "worker", "dashboard")


@pytest.fixture
def env(kafka_bootstrap, database_url, migrated, unique, topic_prefix, tmp_path) -> dict[str, str]:
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={unique}"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMBUS_")}
    env.update(
        CRMBUS_KAFKA_BOOTSTRAP=kafka_bootstrap,
        CRMBUS_DATABASE_URL=url.render_as_string(hide_password=False),
        CRMBUS_TOPIC_PREFIX=topic_prefix,
        CRMBUS_STATE_DIR=str(tmp_path / "state"),
        CRMBUS_INGRESS_PORT=str(free_port()),
        CRMBUS_INGRESS_WORKERS="1",
        CRMBUS_SANDBOX_URL=f"http://127.0.0.1:{free_port()}",
        CRMBUS_WORKER_WEB_PORT=str(free_port()),
        CRMBUS_WORKER_PROCESSES="1",
        CRMBUS_DASHBOARD_PORT=str(free_port()),
        CRMBUS_ROUTES_POLL_S="1",
        COLUMNS="200",
    )
    return env


def crmbus(env: dict[str, str], *args: str, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CRMBUS, *args], env=env, capture_output=True, text=True, timeout=timeout_s)


def dashboard_shows(
    env: dict[str, str], key: str, done: Callable[[dict[str, Any]], bool], timeout_s: float = 60
) -> dict:
    """The dashboard's overview, read with ``key``, once ``done`` holds for it (the archive writes
    attempts a moment after the sandbox got them)."""
    url = f"http://127.0.0.1:{env['CRMBUS_DASHBOARD_PORT']}/dashboard/api/overview"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    deadline, doc = time.monotonic() + timeout_s, {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                doc = json.loads(response.read())
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            doc = {}
        if doc and done(doc):
            return doc
        time.sleep(0.5)
    raise AssertionError(f"the dashboard never showed it; last overview: {doc}")


def financeiro_failed_then_delivered(doc: dict[str, Any]) -> bool:
    rows = {(r["tenant_id"], r["destination"]): r["windows"]["15m"] for r in doc["deliveries"].get("rows", [])}
    financeiro = rows.get(("demo", "financeiro"), {})
    return financeiro.get("retrying", 0) >= 1 and financeiro.get("delivered", 0) >= 1


def running_pids(env: dict[str, str]) -> dict[str, int]:
    home = Path(env["CRMBUS_STATE_DIR"]) / "bus"
    pids = {name: read_pid(home / f"{name}.pid") for name in PROCESSES}
    return {name: pid for name, pid in pids.items() if pid is not None and process_cmdline(pid) is not None}


@pytest.mark.timeout(420)
def test_up_then_demo_delivers_every_seed_flow_and_down_stops_every_process(env, migrated):
    up = crmbus(env, "up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "crmb_" in up.stdout and f"127.0.0.1:{env['CRMBUS_INGRESS_PORT']}" in up.stdout
    assert f"http://127.0.0.1:{env['CRMBUS_DASHBOARD_PORT']}/dashboard" in up.stdout
    started = running_pids(env)
    try:
        assert set(started) == set(PROCESSES)
        again = crmbus(env, "up", "--detach")
        assert again.returncode == 0 and "already running, reused" in again.stdout
        assert running_pids(env) == started
        demo = crmbus(env, "demo", "--per-kind", "2")
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "financeiro circuit opened" in demo.stdout and "financeiro circuit closed" in demo.stdout
        assert "every delivery due now arrived" in demo.stdout
        for flow in ("site lead", "WhatsApp lead", "client registered", "service completed", "WhatsApp message"):
            assert flow in demo.stdout
        assert "2 due in 2 h (feedback request)" in demo.stdout
        _, viewer = ApiKeys(migrated, actor="test").create("demo", "dashboard", role="viewer")
        doc = dashboard_shows(env, viewer, financeiro_failed_then_delivered)
        assert [worker["state"] for worker in doc["workers"]] == ["up"]
        assert doc["consumer_lag"]["status"] == "ok"
        assert f"{env['CRMBUS_TOPIC_PREFIX']}crmbus-worker" in {g["group"] for g in doc["consumer_lag"]["groups"]}
    finally:
        down = crmbus(env, "down", timeout_s=120)
    assert down.returncode == 0, down.stderr
    assert all(f"{name}: stopped" in down.stdout for name in PROCESSES)
    assert all(process_cmdline(pid) is None for pid in started.values())


@pytest.mark.timeout(300)
def test_ctrl_c_on_up_stops_every_process_it_started(env):
    foreground = subprocess.Popen(
        [CRMBUS, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    assert foreground.stdout is not None
    try:
        for line in foreground.stdout:
            if "Ctrl-C stops what this 'up' started" in line:
                break
        started = running_pids(env)
        assert set(started) == set(PROCESSES)
        foreground.send_signal(signal.SIGINT)
        rest, _ = foreground.communicate(timeout=120)
    finally:
        if foreground.poll() is None:
            os.killpg(foreground.pid, signal.SIGKILL)
            crmbus(env, "down", timeout_s=120)
    assert foreground.returncode == 0, rest
    assert all(process_cmdline(pid) is None for pid in started.values())
    assert running_pids(env) == {}


def dashboard_child(env: dict[str, str]) -> int | None:
    path = status_file(Path(env["CRMBUS_STATE_DIR"]), "dashboard", int(env["CRMBUS_DASHBOARD_PORT"]))
    found = read_status(path)
    return None if found is None else found[1][0].pid


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.mark.timeout(420)
def test_a_crashed_process_restarts_and_an_up_that_fails_leaves_what_it_reused_running(env):
    up = crmbus(env, "up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    started = running_pids(env)
    try:
        crashed = dashboard_child(env)
        assert crashed is not None
        os.kill(crashed, signal.SIGKILL)  # as librdkafka's assertion aborts the console
        health = f"http://127.0.0.1:{env['CRMBUS_DASHBOARD_PORT']}/health"
        wait_until(lambda: dashboard_child(env) not in (None, crashed) and answers(health), 60, "dashboard back")
        status = crmbus(env, "status")
        assert "1 restart, last: crmbus-dashboard-0 signal SIGKILL" in status.stdout, status.stdout

        stop_process_group(started["worker"], timeout_s=60)  # the workers stopped, their port then taken
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", int(env["CRMBUS_WORKER_WEB_PORT"])))
            squatter.listen()
            again = crmbus(env, "up", "--detach")
        assert again.returncode != 0 and "port" in again.stdout + again.stderr
        reused = {name: pid for name, pid in started.items() if name != "worker"}
        assert {name: running_pids(env).get(name) for name in reused} == reused
    finally:
        down = crmbus(env, "down", timeout_s=120)
    assert down.returncode == 0, down.stderr
