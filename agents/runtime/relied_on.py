"""What the workers rely on inside faust-streaming, aiokafka and mode-streaming beyond their guides.

Every private member the workers override, call, read or write, and the undocumented public ones
they lean on, each with why. ``tests/unit/test_runtime_relied_on.py`` checks every entry against
the installed packages: the member exists, a method still takes the parameters named here, and
the upstream code that reaches a hook (or fills what we read) still names it. With the versions
pinned (pyproject.toml, ``agents.runtime.versions``), an upgrade that moves any of this fails in
CI, not silently in commits. The reasons and the measurements are in docs/decisions/0001-faust.md.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Literal

from mode.services import ServiceTask

Kind = Literal["method", "function", "attribute"]


@dataclass(frozen=True, slots=True)
class Mention:
    """Upstream code (``module:Qualified.name``) whose source must still contain ``text``."""

    where: str
    text: str


@dataclass(frozen=True, slots=True)
class ReliedOn:
    """``member`` of ``owner`` (``module:Class``, or a module). A method or function is checked
    for the ``parameters`` we pass or receive by name; ``on_instance`` says the member only exists
    once the owner's ``__init__`` ran (or is a property), so it is checked on an instance."""

    owner: str
    member: str
    kind: Kind
    why: str
    used_in: tuple[str, ...]
    parameters: tuple[str, ...] = ()
    on_instance: bool = False
    mentioned_in: tuple[Mention, ...] = ()
    upstream: str = ""  # the upstream issue this answers, if one is filed

    @property
    def name(self) -> str:
        return f"{self.owner}.{self.member}"


_THREAD = "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread"
_CONSUMER = "faust.transport.drivers.aiokafka:Consumer"  # what StrictConsumer subclasses
_FAUST_CONSUMER = "faust.transport.consumer:Consumer"  # where its private members are defined
_TRANSPORT = "faust.transport.drivers.aiokafka:Transport"
_AIOKAFKA = "aiokafka:AIOKafkaConsumer"
_AIOKAFKA_START = "aiokafka.consumer.consumer:AIOKafkaConsumer.start"
_FETCHER = "aiokafka.consumer.fetcher:Fetcher"
_COORDINATOR = "aiokafka.consumer.group_coordinator:GroupCoordinator"
_QUEUE = "mode.utils.queues:ThrowableQueue"
_CONDUCTOR = "faust.transport.conductor:Conductor"
_SENSORS = "faust.sensors.base:SensorDelegate"
_MESSAGE = "faust.types.tuples:Message"
_COMPILER_BUILD = "faust.transport.conductor:ConductorCompiler.build"
_CONSUMER_PY = ("agents/runtime/consumer.py",)
_TAKE_PY = ("agents/runtime/take.py",)
_TABLE_PY = ("agents/runtime/partitioned_table.py",)
_ROCKS = "faust.stores.rocksdb:Store"
_ROCKS_OPTIONS = "faust.stores.rocksdb:RocksDBOptions"
_STORES_PY = ("agents/runtime/table_stores.py",)
_APP_PY = ("agents/app.py",)
_OFFSETS_PY = ("agents/runtime/offsets.py",)
_TIMERS_PY = ("agents/timers.py",)
_BATCH_PY = ("agents/runtime/batch_agent.py",)
_DROPS = "faust-streaming#216, #221, #223"  # records fetched, then dropped around a rebalance


def _m(owner: str, member: str, parameters: tuple[str, ...], used_in: tuple[str, ...], why: str, **kw: Any) -> ReliedOn:
    return ReliedOn(owner, member, "method", why, used_in, parameters, **kw)


def _a(owner: str, member: str, used_in: tuple[str, ...], why: str, **kw: Any) -> ReliedOn:
    return ReliedOn(owner, member, "attribute", why, used_in, **kw)


def _in(where: str, text: str) -> tuple[Mention, ...]:
    return (Mention(where, text),)


# fmt: off
RELIED_ON: tuple[ReliedOn, ...] = (
    # Fetch batching: Faust builds aiokafka's consumer with fetch_min_bytes=1 and has no setting for it.
    _a(_AIOKAFKA, "_fetch_min_bytes", _CONSUMER_PY, "set before start() builds the Fetcher from it", on_instance=True,
       mentioned_in=_in(_AIOKAFKA_START, "fetch_min_bytes=self._fetch_min_bytes")),
    _a(_AIOKAFKA, "_fetch_max_wait_ms", _CONSUMER_PY, "set with _fetch_min_bytes: how long the broker may gather",
       on_instance=True, mentioned_in=_in(_AIOKAFKA_START, "fetch_max_wait_ms=self._fetch_max_wait_ms")),
    _m(_THREAD, "_create_worker_consumer", ("transport",), _CONSUMER_PY,
       "overridden: where Faust builds aiokafka's consumer, before it starts",
       mentioned_in=_in(f"{_THREAD}._create_consumer", "self._create_worker_consumer(transport)")),
    _m(_THREAD, "__init__", ("consumer",), _CONSUMER_PY,
       "our consumer thread is built as Faust builds its own (loop and beacon go on to mode's Service)"),
    _a(_THREAD, "app", _CONSUMER_PY, "how the consumer thread reaches the app's FetchBatching", on_instance=True),
    _m(_THREAD, "on_start", (), _CONSUMER_PY, "overridden: aiokafka's consumer (and its Fetcher) exists after it"),
    _a(_AIOKAFKA, "_fetcher", _CONSUMER_PY,
       "the Fetcher start() built; each FetchRequest takes its _fetch_max_wait_ms and _fetch_min_bytes, which we set",
       on_instance=True,
       mentioned_in=(Mention(_AIOKAFKA_START, "self._fetcher = Fetcher("),
                     Mention(f"{_FETCHER}._get_actions_per_node", "self._fetch_max_wait_ms"),
                     Mention(f"{_FETCHER}._get_actions_per_node", "self._fetch_min_bytes"))),
    _m(_FETCHER, "_proc_fetch_request", ("assignment", "node_id", "request"), _CONSUMER_PY,
       "wrapped: its result (records added) decides the next fetch's min bytes and wait",
       mentioned_in=_in(f"{_FETCHER}._fetch_requests_routine",
                        "self._proc_fetch_request(assignment, node_id, request)")),
    _m(_CONSUMER, "_new_consumer_thread", (), _CONSUMER_PY, "overridden: the only way to give the driver our thread",
       mentioned_in=_in("faust.transport.consumer:ThreadDelegateConsumer.__init__", "self._new_consumer_thread()")),
    _m("faust:App", "_new_transport", (), _CONSUMER_PY, "overridden: the only way to give the app our transport",
       mentioned_in=_in("faust.app.base:App.transport", "self._new_transport()")),
    _a(_TRANSPORT, "Consumer", _CONSUMER_PY, "our transport's consumer class is StrictConsumer",
       mentioned_in=_in("faust.transport.base:Transport.create_consumer", "self.Consumer(")),
    _m("faust.transport.base:Transport", "__init__", ("url", "app"), _CONSUMER_PY,
       "our transport is built as the app builds Faust's (the driver's passes its arguments on)"),

    # Strict commits: only acknowledged offsets, one after the other from the committed one.
    _m(_CONSUMER, "_new_offset", ("tp",), _CONSUMER_PY,
       "overridden: the offset to commit; Faust's commits over one unacknowledged record at the head",
       mentioned_in=_in(f"{_FAUST_CONSUMER}._filter_committable_offsets", "self._new_offset(tp)"),
       upstream="faust-streaming#606"),
    _m(_CONSUMER, "_add_gap", ("tp", "offset_from", "offset_to"), _CONSUMER_PY,
       "overridden to acknowledge nothing: Faust counts the records it dropped itself as acknowledged",
       mentioned_in=_in(f"{_FAUST_CONSUMER}._drain_messages", "self._add_gap("), upstream=_DROPS),
    _a(_CONSUMER, "_committed_offset", _CONSUMER_PY + _OFFSETS_PY,
       "read by _new_offset, head_hole and the stall guard; settle_commit_bases gives a partition its base",
       on_instance=True,
       mentioned_in=_in(f"{_FAUST_CONSUMER}._commit_offsets", "self._committed_offset.update(committable_offsets)")),
    _a(_CONSUMER, "_acked", _CONSUMER_PY, "the acknowledged offsets per partition that _new_offset commits and trims",
       on_instance=True, mentioned_in=_in(f"{_FAUST_CONSUMER}.ack", "self._acked[tp]")),
    _a(_CONSUMER, "_acked_index", _CONSUMER_PY, "trimmed with _acked, as Faust's _new_offset trims it",
       on_instance=True, mentioned_in=_in(f"{_FAUST_CONSUMER}.ack", "self._acked_index[tp]")),

    # One guarded hand-over per fetch, not Faust's wait_first per record.
    _m(_CONSUMER, "_drain_messages", ("fetcher",), _CONSUMER_PY,
       "overridden: Faust's fetch loop guards each record's hand-over, ~30 µs of CPU each",
       mentioned_in=_in("faust.transport.consumer:Fetcher._fetcher", "consumer._drain_messages(self)")),
    _a("mode:Service", "_stopped", _CONSUMER_PY, "the fetch loop runs until the consumer or the fetcher stops",
       on_instance=True),
    _a(_CONSUMER, "_read_offset", _CONSUMER_PY,
       "records below it (fetched again after a seek) are skipped; an abandoned record is marked read",
       on_instance=True),
    _a(_CONSUMER, "_n_acked", _CONSUMER_PY, "counts acknowledgements towards _commit_every, as in Faust's loop",
       mentioned_in=_in(f"{_FAUST_CONSUMER}.ack", "self._n_acked += 1")),
    _a(_CONSUMER, "_commit_every", _CONSUMER_PY, "broker_commit_every, read as Faust's loop reads it",
       on_instance=True),
    _a(_CONSUMER, "suspend_flow", _CONSUMER_PY, "set while a rebalance runs: the hand-over in progress is abandoned",
       on_instance=True, mentioned_in=_in(f"{_FAUST_CONSUMER}.stop_flow", "self.suspend_flow.set()")),
    _a(_CONSUMER, "callback", _CONSUMER_PY, "hands one record to the conductor, which fills the agents' queues",
       on_instance=True),
    _a(_CONSUMER, "consumer_stopped_errors", _CONSUMER_PY, "a consumer the broker stopped ends the loop"),
    _a("faust.transport.consumer", "CONSUMER_FETCHING", _CONSUMER_PY, "the diagnostic flag set while fetching"),
    _m(_CONSUMER, "getmany", ("timeout",), _CONSUMER_PY,
       "the fetched records, less those of a suspended flow or an older generation", upstream=_DROPS),
    _m(_CONSUMER, "commit", (), _CONSUMER_PY, "every _commit_every acknowledgements, as in Faust's loop"),

    # Partitions that the stall guard, the scheduler and the retry tiers move.
    ReliedOn("faust.transport.consumer", "ensure_TPset", "function",
             "a message's tp is aiokafka's TopicPartition, which fails Faust's assertions", _CONSUMER_PY, ("tps",)),
    _m(_CONSUMER, "resume_partitions", ("tps",), _CONSUMER_PY + _OFFSETS_PY,
       "overridden to pass Faust TPs; called by the retry tiers (release_partitions) and the stall guard"),
    _m(_CONSUMER, "pause_partitions", ("tps",), _CONSUMER_PY,
       "a retry tier holds its partitions until a delivery is due (hold_partitions)"),
    _m(_CONSUMER, "verify_event_path", ("now", "tp"), _CONSUMER_PY,
       "overridden: Faust's stall alarm, skipped on a partition held on purpose (hours in a retry tier)",
       mentioned_in=_in(f"{_FAUST_CONSUMER}.verify_all_partitions_active", "self.verify_event_path(now, tp)")),
    _m(_CONSUMER, "on_buffer_drop", ("tp",), _CONSUMER_PY + _OFFSETS_PY,
       "puts back among the fetched a partition a full buffer took out; overridden to pass a TP",
       mentioned_in=_in(_COMPILER_BUILD, "app.consumer.on_buffer_drop")),
    _m(_CONSUMER, "assignment", (), _CONSUMER_PY + _APP_PY, "the partitions the guards, scheduler and retry tiers see"),
    _m(_CONSUMER, "earliest_offsets", ("partitions",), _CONSUMER_PY, "the base of a partition never committed"),
    _m(_CONSUMER, "highwaters", ("partitions",), _TIMERS_PY, "the stall guard: records waiting, not being fetched"),
    _m(_CONSUMER, "position", ("tp",), _TIMERS_PY, "the stall guard: fetched past what the agent handled"),
    _m(_CONSUMER, "seek", ("partition", "offset"), _OFFSETS_PY, "the stall guard reads dropped records again",
       upstream=_DROPS),

    # Batches straight from the channel's queue, not through Stream.noack_take.
    _a("faust.channels:Channel", "queue", _TAKE_PY, "take reads the queue the conductor fills", on_instance=True,
       mentioned_in=_in(_COMPILER_BUILD, "queue = chan.queue")),
    _m(_QUEUE, "get", (), _TAKE_PY, "raises what was thrown into the channel",
       mentioned_in=_in(f"{_QUEUE}.get", "raise self._errors.popleft()")),
    _m(_QUEUE, "get_nowait", (), _TAKE_PY, "raises what was thrown into the channel",
       mentioned_in=_in(f"{_QUEUE}.get_nowait", "raise self._errors.popleft()")),
    _m("faust.agents.actor:Actor", "cancel", (), _TAKE_PY, "take ends its batches on the StopAsyncIteration it throws",
       mentioned_in=_in("faust.agents.actor:Actor.cancel", "StopAsyncIteration")),
    _a("faust:App", "consumer_generation_id", _TAKE_PY + _BATCH_PY + _TIMERS_PY,
       "events fetched before a rebalance are dropped and acknowledged, as Faust's stream does", on_instance=True,
       mentioned_in=_in("faust.transport.drivers.aiokafka:ConsumerRebalanceListener.on_partitions_assigned",
                        "consumer_generation_id = generation")),
    _a(_MESSAGE, "generation_id", _TAKE_PY, "compared with the app's, as Faust's stream compares it", on_instance=True,
       mentioned_in=_in(f"{_CONSUMER}._to_message", "generation_id=self.app.consumer_generation_id")),
    _a(_MESSAGE, "tracked", _TAKE_PY, "a message of an acking topic is tracked once, so a rebalance waits for it",
       on_instance=True),
    _m(_CONSUMER, "track_message", ("message",), _TAKE_PY, "as Faust's stream tracks each message it takes"),
    _a("faust:App", "flow_control", _TAKE_PY, "events read while the flow is suspended are dropped and acknowledged",
       on_instance=True),
    _m("mode.utils.queues:FlowControlEvent", "is_active", (), _TAKE_PY, "whether the flow is suspended"),
    _a(_CONDUCTOR, "acking_topics", _TAKE_PY, "the topics whose messages are tracked", on_instance=True),
    _m(_CONDUCTOR, "acks_enabled_for", ("topic",), _CONSUMER_PY, "the partitions settle_commit_bases looks at"),
    _m(_SENSORS, "on_stream_event_in", ("tp", "offset", "stream", "event"), _TAKE_PY,
       "the monitor hears of each event taken, as from Faust's stream"),
    _m(_SENSORS, "on_message_out", ("tp", "offset", "message"), _TAKE_PY,
       "the monitor hears of each event acknowledged"),

    # Tables the agents change themselves, the changes sent through the agents' producer.
    _a("faust.tables.base:Collection", "data", _TABLE_PY, "the store, changed without Faust's changelog send",
       on_instance=True),
    _a("faust.stores.memory:Store", "data", _TABLE_PY, "the dict underneath: a miss costs no KeyError",
       on_instance=True),
    _a("faust.stores.memory:Store", "_key_partition", _TABLE_PY,
       "a key the agent writes is marked with its partition, so that Faust drops it when a rebalance takes "
       "the partition away, as it drops the keys it restored",
       on_instance=True,
       mentioned_in=_in("faust.stores.memory:Store.on_recovery_completed", "self._key_partition.items()")),
    _m("faust.topics:Topic", "get_topic_name", (), _TABLE_PY, "the changelog topic a table change is written to"),
    _m(_ROCKS, "_db_for_partition", ("partition",), _TABLE_PY,
       "a change goes to its record's partition's database, not the current event's (a batch mixes them)"),
    _m(_ROCKS, "_dbs_for_key", ("key",), _TABLE_PY, "the databases a key may be in, its partition's if known"),
    _a(_ROCKS, "_dbs", _TABLE_PY, "the partitions whose databases this worker holds, checkpointed",
       on_instance=True),
    _a(_ROCKS, "rocksdb_options", (*_TABLE_PY, *_STORES_PY),
       "its ttl: the store drops expired entries itself; replaced before any database opens, with write-buffer "
       "filters added",
       on_instance=True, mentioned_in=_in(f"{_ROCKS}._open_for_partition", "self.rocksdb_options.open(")),
    _a(_ROCKS, "options", _STORES_PY, "what the options were made from (the driver taken out), to make them again",
       on_instance=True, mentioned_in=_in(f"{_ROCKS}.__init__", "**self.options")),
    _a(_ROCKS, "use_rocksdict", _STORES_PY, "whether the databases are rocksdict's, whose options we extend",
       on_instance=True),
    _m(_ROCKS_OPTIONS, "as_options", (), _STORES_PY,
       "overridden: the options every database of the store is opened with, write-buffer filters added",
       mentioned_in=_in(f"{_ROCKS_OPTIONS}.open", "self.as_options()")),
    _m(_ROCKS, "set_persisted_offset", ("tp", "offset"), _TABLE_PY,
       "the changelog offset a database holds up to, which recovery reads from; Faust sets it only for "
       "changes it sent itself",
       mentioned_in=_in("faust.tables.recovery:Recovery._add", "table.persisted_offset(tp)")),

    # A graceful stop leaves the group, a static member too (aiokafka leaves it only without an id).
    _m(_THREAD, "on_thread_stop", (), _CONSUMER_PY, "overridden: runs before the thread stops aiokafka's consumer",
       mentioned_in=_in(f"{_THREAD}.on_thread_stop", "await self._consumer.stop()")),
    _a(_THREAD, "_consumer", _CONSUMER_PY, "the aiokafka consumer the thread is about to stop", on_instance=True),
    _a(_AIOKAFKA, "_coordinator", _CONSUMER_PY, "the group coordinator whose close sends the LeaveGroup",
       on_instance=True, mentioned_in=_in("aiokafka:AIOKafkaConsumer.stop", "await self._coordinator.close()")),
    _m(_COORDINATOR, "_maybe_leave_group", (), _CONSUMER_PY,
       "wrapped: close sends the leave once the coordinator's last round is over",
       mentioned_in=_in(f"{_COORDINATOR}.close", "await self._maybe_leave_group()")),
    _a(_COORDINATOR, "generation", _CONSUMER_PY, "none as the member leaves: no LeaveGroup is sent, which is logged",
       on_instance=True, mentioned_in=_in(f"{_COORDINATOR}._maybe_leave_group", "self.generation > 0")),
    _a(_COORDINATOR, "_group_instance_id", _CONSUMER_PY,
       "cleared as the leave is sent: aiokafka sends no LeaveGroup for a static member", on_instance=True,
       mentioned_in=_in(f"{_COORDINATOR}._maybe_leave_group", "self._group_instance_id is None")),

    # Readiness.
    _a("faust:App", "rebalancing", _APP_PY, "a worker is not ready while it rebalances (/health)", on_instance=True),
)
# fmt: on


def resolve(path: str) -> Any:
    """The object at ``module:Qualified.name`` (or the module, without a colon)."""
    module_name, _, qualified = path.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in filter(None, qualified.split(".")):
        found = getattr(found, part)  # a property comes back as itself, read from a class
    return found


def problems(entry: ReliedOn, subject: object) -> list[str]:
    """What no longer holds of ``entry`` on ``subject`` (its owner, or an instance of it when
    ``on_instance``): empty when everything does."""
    found = getattr(subject, entry.member, _MISSING)  # properties run, as in the workers
    if found is _MISSING:
        return [f"{entry.name} is missing"]
    if entry.kind == "attribute":
        return []
    if not callable(found):
        return [f"{entry.name} is no longer callable"]
    parameters = inspect.signature(found).parameters
    gone = [name for name in entry.parameters if name not in parameters]
    return [f"{entry.name} no longer takes {', '.join(gone)}"] if gone else []


def unmentioned(entry: ReliedOn) -> list[str]:
    """The upstream code that no longer reaches ``entry`` as it did."""
    return [
        f"{mention.where} no longer contains {mention.text!r} ({entry.name})"
        for mention in entry.mentioned_in
        if mention.text not in _source(resolve(mention.where))
    ]


def _source(found: Any) -> str:
    if isinstance(found, property):
        found = found.fget
    elif isinstance(found, ServiceTask):  # a ``@Service.task`` method
        found = found.fun
    return inspect.getsource(found)


_MISSING = object()
