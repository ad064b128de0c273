"""Every private (or undocumented) member of faust-streaming, aiokafka and mode-streaming the workers
rely on is still there, as they use it: an upgrade that moves one fails here, not in commits."""

import ast
import asyncio
import dataclasses
import importlib
from pathlib import Path

import aiokafka
import faust
import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.consumer.subscription_state import SubscriptionState
from faust.transport.consumer import Consumer as FaustConsumer
from faust.types.tuples import Message

from agents.runtime.relied_on import RELIED_ON, Mention, ReliedOn, problems, resolve, unmentioned

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
UPSTREAM = ("faust", "mode", "aiokafka")
# Private-looking names that are not the runtime's: os._exit is public despite its name.
NOT_THE_RUNTIMES = frozenset({"_exit"})


def entry(owner: str, member: str) -> ReliedOn:
    return next(e for e in RELIED_ON if e.owner == owner and e.member == member)


async def stopped_aiokafka_consumer() -> aiokafka.AIOKafkaConsumer:
    consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9")  # never started: no connection
    await consumer.stop()
    return consumer


async def idle_group_coordinator() -> GroupCoordinator:
    client = aiokafka.AIOKafkaClient(bootstrap_servers="127.0.0.1:9")  # never bootstrapped: no connection
    coordinator = GroupCoordinator(client, SubscriptionState(), group_instance_id="relied-on-0")
    coordinator._coordination_task.cancel()  # before it ever runs
    await asyncio.sleep(0)
    await client.close()
    return coordinator


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    """One instance of each owner whose members only an instance has, built as a worker builds them."""
    app = faust.App(
        "crmbus-relied-on",
        broker="kafka://127.0.0.1:9",
        store="memory://",
        datadir=str(tmp_path_factory.mktemp("faust")),
        autodiscover=False,
        web_enabled=False,
    )
    consumer = app.consumer  # the aiokafka driver's Consumer, made (not started) with its thread
    table = app.Table("relied-on")
    rocks = app.Table("relied-on-rocks", store="rocksdb:relied-on-rocks", options={"driver": "rocksdict"})
    yield {
        "faust:App": app,
        "faust.transport.drivers.aiokafka:Consumer": consumer,
        "mode:Service": consumer,
        "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread": consumer._thread,
        "aiokafka:AIOKafkaConsumer": asyncio.run(stopped_aiokafka_consumer()),
        "aiokafka.consumer.group_coordinator:GroupCoordinator": asyncio.run(idle_group_coordinator()),
        "faust.channels:Channel": app.channel(),
        "faust.transport.conductor:Conductor": app.topics,
        "faust.tables.base:Collection": table,
        "faust.stores.memory:Store": table.data,
        "faust.stores.rocksdb:Store": rocks.data,
        "faust.types.tuples:Message": Message("t", 0, 0, 0.0, 0, {}, b"k", b"v", None, generation_id=1),
    }
    consumer._thread.thread_loop.close()  # the consumer thread's loop, made but never started


def subject_of(entry: ReliedOn, instances):
    if not entry.on_instance:
        return resolve(entry.owner)
    subject = instances[entry.owner]
    assert isinstance(subject, resolve(entry.owner))
    return subject


@pytest.mark.parametrize("relied_on", RELIED_ON, ids=lambda e: e.name)
def test_every_member_the_workers_rely_on_is_still_there_with_the_parameters_they_use(relied_on, instances):
    assert problems(relied_on, subject_of(relied_on, instances)) == []


@pytest.mark.parametrize("relied_on", [e for e in RELIED_ON if e.mentioned_in], ids=lambda e: e.name)
def test_the_upstream_code_that_reaches_each_hook_or_fills_what_we_read_still_does(relied_on):
    assert unmentioned(relied_on) == []


@pytest.mark.parametrize("relied_on", RELIED_ON, ids=lambda e: e.name)
def test_every_module_said_to_use_a_member_does(relied_on):
    owner_name = relied_on.owner.rpartition(":")[2]
    used = owner_name if relied_on.member == "__init__" else relied_on.member  # a constructor is called by name
    for path in relied_on.used_in:
        assert used in (ROOT / path).read_text(), f"{path} no longer uses {relied_on.name}: drop it from the list"


def test_the_inventory_names_each_member_once():
    names = [e.name for e in RELIED_ON]
    assert len(names) == len(set(names))


def test_no_private_member_of_the_runtime_is_touched_in_agents_outside_the_inventory():
    listed = {e.member for e in RELIED_ON}
    touched = private_runtime_members(ROOT / "agents")
    # Both ways in are seen: a hook overridden in a subclass, a member read on another object.
    assert {("_new_offset", "agents/runtime/consumer.py"), ("_stopped", "agents/runtime/consumer.py")} <= touched
    assert sorted((name, path) for name, path in touched if name not in listed) == []


# The check itself fails when something it guards goes away.


def test_the_check_fails_when_a_hook_we_override_is_gone(monkeypatch):
    add_gap = entry("faust.transport.drivers.aiokafka:Consumer", "_add_gap")
    monkeypatch.delattr(FaustConsumer, "_add_gap")

    assert problems(add_gap, resolve(add_gap.owner)) == [f"{add_gap.name} is missing"]


def test_the_check_fails_when_an_attribute_set_in_init_is_gone(monkeypatch, instances):
    committed = entry("faust.transport.drivers.aiokafka:Consumer", "_committed_offset")
    consumer = instances[committed.owner]
    monkeypatch.delattr(consumer, "_committed_offset")

    assert problems(committed, consumer) == [f"{committed.name} is missing"]


def test_the_check_fails_on_a_stand_in_whose_method_lost_a_parameter_we_pass():
    add_gap = entry("faust.transport.drivers.aiokafka:Consumer", "_add_gap")

    class Renamed:
        async def _add_gap(self, tp, start, end) -> None: ...

    assert problems(add_gap, Renamed) == [f"{add_gap.name} no longer takes offset_from, offset_to"]


def test_the_check_fails_on_a_stand_in_whose_method_became_an_attribute():
    new_offset = entry("faust.transport.drivers.aiokafka:Consumer", "_new_offset")

    class Flattened:
        _new_offset = None

    assert problems(new_offset, Flattened) == [f"{new_offset.name} is no longer callable"]


def test_the_check_fails_when_upstream_code_no_longer_reaches_a_hook(monkeypatch):
    new_offset = entry("faust.transport.drivers.aiokafka:Consumer", "_new_offset")
    mention = new_offset.mentioned_in[0]

    def filter_committable_offsets(self, tps):  # a release that inlined its commit rule
        return {}

    monkeypatch.setattr(FaustConsumer, "_filter_committable_offsets", filter_committable_offsets)

    assert unmentioned(new_offset) == [f"{mention.where} no longer contains {mention.text!r} ({new_offset.name})"]


def test_a_mention_that_was_never_there_is_reported():
    drain = entry("faust.transport.drivers.aiokafka:Consumer", "_drain_messages")
    moved = dataclasses.replace(drain, mentioned_in=(Mention("faust.transport.consumer:Fetcher._fetcher", "gone("),))

    assert len(unmentioned(moved)) == 1


def test_the_scan_sees_a_private_member_reached_through_another_object(tmp_path):
    (tmp_path / "reach.py").write_text("def peek(app):\n    return app.consumer._acked_index\n")

    assert private_runtime_members(tmp_path) == {("_acked_index", f"{tmp_path.name}/reach.py")}


def private_runtime_members(root: Path) -> set[tuple[str, str]]:
    """(name, file) of each private member under ``root`` read on another object, or defined or used
    on ``self`` in a class with one of faust's, mode's or aiokafka's classes among its bases, which
    that base has: what the inventory must list. Private names our own code defines are ours."""
    trees = {str(path.relative_to(root.parent)): ast.parse(path.read_text()) for path in sorted(root.rglob("*.py"))}
    runtime_classes: list[tuple[str, ast.ClassDef, tuple[type, ...]]] = []
    ours: set[str] = set()
    for where, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and (bases := upstream_bases(where, node.name)):
                runtime_classes.append((where, node, bases))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and is_private(node.name):
                ours.add(node.name)
            if is_self_attribute(node) and isinstance(node.ctx, ast.Store):
                ours.add(node.attr)

    touched: set[tuple[str, str]] = set()
    for where, cls, bases in runtime_classes:
        theirs = {name for name in class_private_names(cls) if any(has_member(base, name) for base in bases)}
        touched |= {(name, where) for name in theirs}
        ours -= theirs
    for where, tree in trees.items():
        for node in ast.walk(tree):
            foreign = isinstance(node, ast.Attribute) and is_private(node.attr) and not is_self_attribute(node)
            if foreign and node.attr not in ours and node.attr not in NOT_THE_RUNTIMES:
                touched.add((node.attr, where))
    return touched


def upstream_bases(where: str, class_name: str) -> tuple[type, ...]:
    """The faust, mode or aiokafka classes among the bases of ``class_name`` in our file ``where``."""
    if not (ROOT / where).is_file():
        return ()
    module = importlib.import_module(where.removesuffix(".py").replace("/", "."))
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        return ()
    return tuple(base for base in cls.__mro__[1:] if base.__module__.split(".")[0] in UPSTREAM)


def class_private_names(cls: ast.ClassDef) -> set[str]:
    names = {n.name for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and is_private(n.name)}
    return names | {n.attr for n in ast.walk(cls) if is_self_attribute(n) and is_private(n.attr)}


def has_member(base: type, name: str) -> bool:
    return name in vars(base) or name in vars(base).get("__annotations__", {})


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def is_self_attribute(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
