"""Each worker process joins its group as a static member with an id of its own, and leaves the
group when it stops gracefully (tests/integration/test_self_healing.py runs both against Kafka)."""

import asyncio
from types import SimpleNamespace

import pytest

from agents.worker_app import instance_id
from infra.cli.wiring import worker_app
from infra.core.settings import Settings

pytestmark = pytest.mark.unit


def test_each_process_of_a_worker_has_its_own_instance_id(tmp_path):
    settings = Settings(state_dir=tmp_path)

    assert len({instance_id(settings, index) for index in range(4)}) == 4


@pytest.mark.parametrize("other", [{"worker_web_port": 19010}, {"state_dir": "elsewhere"}])
def test_two_workers_on_one_host_differ_by_state_directory_or_web_port(tmp_path, other):
    ours = Settings(state_dir=tmp_path / "ours", worker_web_port=18010)
    theirs = ours.model_copy(update={k: tmp_path / v if k == "state_dir" else v for k, v in other.items()})

    assert instance_id(ours, 0) != instance_id(theirs, 0)


def test_an_instance_id_set_in_the_settings_is_used_with_the_process_index(tmp_path):
    assert instance_id(Settings(state_dir=tmp_path, worker_instance_id="host-a"), 1) == "host-a-1"


def test_static_membership_can_be_turned_off(tmp_path):
    assert instance_id(Settings(state_dir=tmp_path, worker_static_membership=False), 0) is None


def test_the_workers_consumer_joins_with_its_instance_id_and_session_timeout(tmp_path):
    settings = Settings(state_dir=tmp_path, worker_instance_id="host-a", worker_session_timeout_s=20)

    async def built() -> tuple[str, int]:
        thread = worker_app(settings, 1).consumer._thread  # Faust's consumer thread, not started
        consumer = thread._create_worker_consumer(thread.transport)
        try:
            return consumer._group_instance_id, consumer._session_timeout_ms
        finally:
            await consumer.stop()
            thread.thread_loop.close()

    assert asyncio.run(built()) == ("host-a-1", 20_000)


def test_a_graceful_stop_leaves_the_group_without_the_instance_id_but_rejoins_with_it(tmp_path):
    thread = worker_app(Settings(state_dir=tmp_path, worker_instance_id="host-a")).consumer._thread
    sent = []

    async def leave_group() -> None:
        sent.append(("LeaveGroup", coordinator._group_instance_id))

    coordinator = SimpleNamespace(
        group_id="crmbus-worker", generation=3, _group_instance_id="host-a-0", _maybe_leave_group=leave_group
    )

    async def stop() -> None:  # aiokafka's close: the coordinator's last round, then the leave
        sent.append(("JoinGroup", coordinator._group_instance_id))  # a rebalance began as it closed
        await coordinator._maybe_leave_group()

    thread._consumer = SimpleNamespace(_coordinator=coordinator, stop=stop)

    async def graceful() -> None:
        await thread.on_thread_stop()

    asyncio.run(graceful())
    thread.thread_loop.close()

    assert sent == [("JoinGroup", "host-a-0"), ("LeaveGroup", None)]
