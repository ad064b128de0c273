"""What the chaos suite (``tests/chaos``), the scale-out test and ``bench run chaos`` share.

- ``Stage``: a topic prefix with the catalogue, ``tenants`` seeded with the seed flows at the
  ledger (``bench.chaos_ledger``), their crm, zapi and marketing destinations given a credential
  sealed with the stage's own key; tenant *i*'s events are written to lane partition *i*.
- ``Worker``: ``crmbus worker`` as if on a host of its own (its own state directory, web
  port(s) and web host), started, killed (the whole process group, or one supervised child)
  and stopped.
- ``LaneFeed``: a steady stream of lead.created envelopes written to the lane as the ingress
  writes them (Avro, acks=all, idempotent), each event's tag and sequence number in its phone;
  it knows which events Kafka acknowledged: those are the ones that must arrive.
- ``judge``: lost, effective duplicates, redeliveries and the delivery gap of one run, from the
  ledger's applications; ``run_load``: a load with disruptions at set moments, drained, judged.
- ``own_kafka`` / ``own_postgres``: a broker or cluster of the caller's own (free ports, private
  state), to stop under load without touching anyone else's.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import Engine, text

from bench.chaos_ledger import Application, LedgerClient
from bench.deliver_systems import GroupProgress, _ReadyFile
from bench.e2e_events import event_body
from bench.e2e_receiver import DESTINATIONS
from bench.resources import tree
from bench.router_systems import free_ports
from bench.stack import HOST, BenchError, answers_health, free_port, ingress_command
from connectors.kafka.admin import apply_catalogue
from connectors.kafka.producer import producer_config
from connectors.kafka.security import librdkafka_client
from infra.core.secret_box import SecretBox
from infra.core.settings import Settings
from infra.db.endpoints import Endpoints
from infra.db.engine import database_url, make_engine
from infra.db.migrate import upgrade
from infra.db.tenants import Tenants
from infra.local.kafka_node import LocalKafka
from infra.local.postgres_node import LocalPostgres
from schemas.avro_schemas import CatalogueSchemaIds, load_schema
from schemas.catalogue import load_catalogue
from schemas.codec import AvroCodec
from schemas.topic_names import TopicNames
from streams.envelope import Envelope

LANE_PARTITIONS = 6
CREDENTIAL = "chaos-token"
_POLL_S = 0.25


# -- the stage ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Stage:
    settings: Settings  # bootstrap, database URL (with its schema), topic prefix
    tenants: tuple[str, ...]
    secret_key: str  # seals the destinations' credentials; the workers get it
    ledger: LedgerClient
    work_dir: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])  # in every idempotency key

    @property
    def lane(self) -> str:
        return TopicNames(self.settings.topic_prefix).default

    @property
    def group(self) -> str:
        """The consumer group of ``crmbus worker`` with every role."""
        return f"{self.settings.topic_prefix}crmbus-worker"


@contextlib.contextmanager
def ledger_server(log_dir: Path, timeout_s: float = 30.0) -> Iterator[LedgerClient]:
    """``python -m bench.chaos_ledger`` on a free loopback port, stopped on the way out."""
    port = free_port()
    ready = Path(tempfile.mkdtemp(prefix="chaos-ledger-", dir=log_dir)) / "ready"
    command = [sys.executable, "-m", "bench.chaos_ledger", "--port", str(port), "--ready-file", str(ready)]
    with _ReadyFile("ledger", [command], port, log_dir) as server:
        server.start(timeout_s, [ready])
        client = LedgerClient(f"http://{HOST}:{port}")
        try:
            yield client
        finally:
            client.close()


def stage(
    settings: Settings, engine: Engine, ledger: LedgerClient, work_dir: Path, tenants: Sequence[str]
) -> Stage:  # fmt: skip
    """A fresh ``Stage``: ``prepare`` with a new key (its database, or schema, must be the stage's own:
    every worker of a database loads every tenant's destinations, and others could not open these)."""
    key = Fernet.generate_key().decode()
    prepare(settings, engine, tenants, ledger.url, key)
    return Stage(settings, tuple(tenants), key, ledger, work_dir)


def prepare(settings: Settings, engine: Engine, tenants: Sequence[str], ledger_url: str, secret_key: str) -> None:
    """The catalogue under the settings' prefix, and ``tenants`` delivering to the ledger."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    apply_catalogue(admin, load_catalogue().with_prefix(settings.topic_prefix), settings.kafka_replication_factor)
    endpoints = Endpoints(engine, SecretBox(secret_key.encode()), actor="chaos")
    for tenant in tenants:
        Tenants(engine, actor="chaos").create(tenant, f"Chaos {tenant}", sandbox_url=ledger_url)
        for system in DESTINATIONS:
            endpoints.update(tenant, system, secret=CREDENTIAL)


# What the destinations do in the destinations scenario: (what, which destination).
TROUBLES = (("fails (503)", "crm"), ("slow (2 s)", "zapi"), ("throttles (429)", "marketing"))


def misbehave(ledger: LedgerClient) -> None:
    """The ``TROUBLES`` at once: crm answers 503, zapi after 2 s, marketing 429 above 3 requests/s."""
    ledger.fail("crm", 503)
    ledger.slow("zapi", 2.0)
    ledger.throttle("marketing", per_s=3, retry_after_s=1)


def behave(ledger: LedgerClient) -> None:
    for system in DESTINATIONS:
        ledger.heal(system)


# -- workers -----------------------------------------------------------------------------------
def _fork_server(pid: int) -> bool:
    """Whether ``pid`` is a multiprocessing fork server (its forked children share its command line)."""
    try:
        return b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


class Worker:
    """``crmbus worker`` as if on a host of its own: own state directory, web port(s) and bind host."""

    def __init__(self, stage: Stage, name: str, processes: int = 1, web_host: str = HOST, **env: str) -> None:
        self.name, self.processes, self.web_host = name, processes, web_host
        self.port = free_ports(processes)
        state = stage.work_dir / name
        state.mkdir(parents=True, exist_ok=True)
        self.log_path = state / "worker.log"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CRMBUS_")}
        self.env = {
            **inherited,
            "CRMBUS_KAFKA_BOOTSTRAP": stage.settings.kafka_bootstrap,
            "CRMBUS_DATABASE_URL": stage.settings.database_url.get_secret_value(),
            "CRMBUS_TOPIC_PREFIX": stage.settings.topic_prefix,
            "CRMBUS_STATE_DIR": str(state),
            "CRMBUS_WORKER_PROCESSES": str(processes),
            "CRMBUS_WORKER_WEB_PORT": str(self.port),
            "CRMBUS_WORKER_WEB_HOST": web_host,
            "CRMBUS_SECRET_KEY": stage.secret_key,
            "CRMBUS_OUTBOUND_ALLOW_LOOPBACK": "true",
            "CRMBUS_ROUTES_POLL_S": "1",
            "CRMBUS_LOG_LEVEL": "warning",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def ports(self) -> list[int]:
        return [self.port + index for index in range(self.processes)]

    def healthy(self) -> bool:
        return all(answers_health(port, host=self.web_host) for port in self.ports)

    def start(self, timeout_s: float = 120.0) -> Worker:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(ingress_command()), "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            self.wait_healthy(timeout_s)
        except BaseException:
            self.kill()
            raise
        return self

    def wait_healthy(self, timeout_s: float) -> float:
        """Seconds until every process answers 200 on /health; BenchError when the worker exits or time runs out."""
        started = time.monotonic()
        while not self.healthy():
            if self.proc is None or self.proc.poll() is not None:
                raise BenchError(f"worker {self.name} exited; last lines of {self.log_path}:\n{self.tail()}")
            if time.monotonic() - started > timeout_s:
                raise BenchError(f"worker {self.name} not healthy in {timeout_s:.0f} s:\n{self.tail()}")
            time.sleep(_POLL_S)
        return time.monotonic() - started

    def children(self) -> list[int]:
        """The worker processes the ``crmbus worker`` supervisor runs: its fork server's children (not
        the fork server itself, nor multiprocessing's resource tracker)."""
        if self.proc is None:
            return []
        supervisor = self.proc.pid
        servers = {pid for pid in tree(supervisor) if _parent(pid) == supervisor and _fork_server(pid)}
        return [pid for pid in tree(supervisor) if _parent(pid) in servers]

    def kill_child(self, index: int) -> int:
        """SIGKILL one supervised child (the ``index``-th alive, by pid); returns its pid."""
        children = sorted(self.children())
        if not children:
            raise BenchError(f"worker {self.name} has no child to kill")
        victim = children[index % len(children)]
        os.kill(victim, signal.SIGKILL)
        return victim

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown code runs anywhere (a host lost)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout_s: float = 60.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_all(workers: Sequence[Worker], timeout_s: float = 180.0) -> list[Worker]:
    """Start workers at once (each Faust worker takes seconds); all stopped if one fails."""
    with ThreadPoolExecutor(len(workers)) as pool:
        futures = [pool.submit(worker.start, timeout_s) for worker in workers]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        for worker in workers:
            worker.kill()
        raise errors[0]  # type: ignore[misc]
    return list(workers)


def lane_owners(stage: Stage, group: str | None = None) -> dict[int, list[str]]:
    """Lane partition -> the members of the workers' consumer group (default: that of every role)
    that own it now."""
    group = group or stage.group
    admin = AdminClient({"bootstrap.servers": stage.settings.kafka_bootstrap})
    description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    owners: dict[int, list[str]] = {partition: [] for partition in range(LANE_PARTITIONS)}
    for member in description.members:
        for tp in member.assignment.topic_partitions:
            if tp.topic == stage.lane:
                owners[tp.partition].append(member.member_id)
    return owners


def group_lag(stage: Stage) -> int:
    """Records on the lane and the deliver topics the workers' group has not committed yet: 0 means
    everything written so far was routed and delivered (or parked)."""
    names = TopicNames(stage.settings.topic_prefix)
    progress = GroupProgress(stage.settings.kafka_bootstrap, stage.group)
    try:
        return progress.lag([stage.lane, *(names.deliver(system) for system in DESTINATIONS)])
    finally:
        progress.close()


# -- the load ----------------------------------------------------------------------------------
class LaneFeed:
    """lead.created envelopes at ``rate`` per second, event ``seq`` of tenant ``seq % tenants`` to lane
    partition ``seq % tenants``; ``acked`` are the events Kafka acknowledged."""

    def __init__(self, stage: Stage, tag: int, rate: float, delivery_timeout_s: float = 300.0) -> None:
        self.stage, self.tag, self.rate = stage, tag, rate
        self.codec = AvroCodec(load_schema("envelope.v1.avsc"), f"{stage.lane}-value", CatalogueSchemaIds())
        config = producer_config(librdkafka_client(stage.settings), delivery_timeout_s, linger_ms=5)
        # A stopped broker is part of the plan: librdkafka's connection errors would be a line every 0.3 s.
        self.producer = Producer({**config, "log_level": 2})
        self.acked: set[int] = set()
        self.failed = 0
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"chaos-feed-{tag}", daemon=True)

    def idempotency_key(self, seq: int) -> str:
        return f"chaos-{self.stage.run_id}-{self.tag}-{seq}"

    def send(self, seq: int) -> None:
        """Event ``seq`` (a new event id each time: a re-send is a duplicate only by its idempotency key)."""
        tenant_index = seq % len(self.stage.tenants)
        payload = json.loads(event_body(self.tag, seq, ""))["payload"]
        envelope = Envelope(
            tenant_id=self.stage.tenants[tenant_index], type="lead.created", source="api", payload=payload,
            idempotency_key=self.idempotency_key(seq),
        )  # fmt: skip
        value = self.codec.encode(envelope.to_record())

        def acked(error: KafkaError | None, _: Message) -> None:
            if error is None:
                self.acked.add(seq)
            else:
                self.failed += 1

        partition = tenant_index % LANE_PARTITIONS
        self.producer.produce(
            self.stage.lane, value, envelope.tenant_id.encode(), partition=partition, on_delivery=acked
        )
        self.producer.poll(0)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            due = started + self.sent / self.rate
            if self._stop.wait(max(0.0, due - time.monotonic())):
                break
            self.send(self.sent)
            self.sent += 1

    def start(self) -> LaneFeed:
        self._thread.start()
        return self

    def stop(self, flush_s: float = 300.0) -> None:
        """Stop sending and wait (bounded) for Kafka to acknowledge or refuse what was sent."""
        self._stop.set()
        self._thread.join()
        self.producer.flush(flush_s)

    def resend(self, seqs: Iterable[int], flush_s: float = 60.0) -> None:
        """Send events again as new events with their old idempotency keys (what a retrying client does)."""
        for seq in seqs:
            self.send(seq)
        self.producer.flush(flush_s)


# -- judging -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Verdict:
    scenario: str
    accepted: int  # events Kafka acknowledged
    lost: int  # accepted events some destination never got
    effective_duplicates: int  # an event applied by one destination under more than one key
    redeliveries: int  # requests answered as replays: the same key again, harmless
    gap_s: float  # the longest pause between first deliveries of one (destination, tenant) stream
    resume_s: tuple[float, ...]  # per disruption: until every stream delivered something new
    drained_s: float  # from the load's end until everything accepted had arrived (or the wait ended)
    note: str = ""

    def row(self) -> dict[str, object]:
        worst = max(self.resume_s) if self.resume_s else None
        worst = None if worst is None or math.isinf(worst) else round(worst, 2)
        return {
            "scenario": self.scenario, "accepted": self.accepted, "lost": self.lost,
            "effective_duplicates": self.effective_duplicates, "redeliveries": self.redeliveries,
            "gap_s": round(self.gap_s, 2), "resume_max_s": worst,
            "drained_s": round(self.drained_s, 2), "note": self.note,
        }  # fmt: skip


def judge(
    scenario: str, acked: set[int], applications: Sequence[Application], tenants: int,
    load: tuple[float, float], disruptions: Sequence[float], drained_s: float, note: str = "",
    systems: Sequence[str] = DESTINATIONS,
) -> Verdict:  # fmt: skip
    """Lost, effective duplicates, redeliveries, gap and resumptions of one load (``load``: monotonic start, end)."""
    keys: dict[tuple[int, str], set[str | None]] = {}
    first: dict[tuple[int, str], float] = {}
    redeliveries = 0
    for application in applications:
        if application.system not in systems:
            continue
        if application.replay:
            redeliveries += 1
            continue
        slot = (application.seq, application.system)
        keys.setdefault(slot, set()).add(application.key)
        first[slot] = min(first.get(slot, application.at_s), application.at_s)
    lost = sum(1 for seq in acked if any((seq, system) not in first for system in systems))
    duplicates = sum(len(found) - 1 for found in keys.values())
    streams: dict[tuple[str, int], list[float]] = {}
    for (seq, system), at_s in first.items():
        streams.setdefault((system, seq % tenants), []).append(at_s)
    start, end = load
    gap = 0.0
    for times in streams.values():
        times.sort()
        inside = [at for at in times if at >= start]
        gap = max([gap, *(b - a for a, b in itertools.pairwise(inside) if a < end)])
    resume = tuple(
        max((next((at for at in times if at >= moment), float("inf")) - moment for times in streams.values()),
            default=float("inf"))
        for moment in disruptions
    )  # fmt: skip
    return Verdict(scenario, len(acked), lost, duplicates, redeliveries, gap, resume, drained_s, note)


def drain(ledger: LedgerClient, tag: int, acked: set[int], timeout_s: float) -> float:
    """Seconds until every acknowledged event of ``tag`` reached every destination (at most ``timeout_s``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if ledger.complete(tag) >= len(acked):
            applied = {(a.seq, a.system) for a in ledger.applications(tag)}
            if all((seq, system) in applied for seq in acked for system in DESTINATIONS):
                break
        time.sleep(_POLL_S)
    return time.monotonic() - started


@dataclass(frozen=True, slots=True)
class Disruption:
    at_s: float  # after the load started
    action: Callable[[], object]
    what: str = ""


@dataclass(frozen=True, slots=True)
class Run:
    """What one load left behind, to be judged as a whole or per destination."""

    acked: set[int]
    applications: list[Application]
    tenants: int
    load: tuple[float, float]  # monotonic start and end of the load
    moments: list[float]  # of the disruptions
    drained_s: float
    refused: int  # sends Kafka refused (not acknowledged: not owed)

    def verdict(
        self, scenario: str, systems: Sequence[str] = DESTINATIONS, moments: Sequence[int] | None = None
    ) -> Verdict:
        """Judged on ``systems`` only, resumption counted from the disruptions numbered ``moments`` (default all)."""
        chosen = self.moments if moments is None else [self.moments[index] for index in moments]
        note = f"{self.refused} sends refused by Kafka" if self.refused else ""
        return judge(
            scenario, self.acked, self.applications, self.tenants, self.load, chosen, self.drained_s, note, systems
        )


def run_load(
    stage: Stage, tag: int, rate: float, duration_s: float, disruptions: Sequence[Disruption], drain_s: float,
    after_load: Callable[[LaneFeed], object] | None = None,
) -> Run:  # fmt: skip
    """A steady load for ``duration_s`` with ``disruptions`` at their moments, then the drain.

    Each disruption's instant is taken just before its action: that is what ``resume_s`` counts from.
    ``after_load`` runs once the load stopped and was acknowledged (e.g. re-sending duplicates).
    """
    feed = LaneFeed(stage, tag, rate).start()
    started = time.monotonic()
    moments: list[float] = []
    pace = threading.Event()  # never set: its wait is the pause until the next moment
    try:
        for disruption in sorted(disruptions, key=lambda d: d.at_s):
            pace.wait(max(0.0, started + disruption.at_s - time.monotonic()))
            moments.append(time.monotonic())
            disruption.action()
        pace.wait(max(0.0, started + duration_s - time.monotonic()))
    finally:
        feed.stop()
    ended = time.monotonic()
    if after_load is not None:
        after_load(feed)
    drained = drain(stage.ledger, tag, feed.acked, drain_s)
    applications = stage.ledger.applications(tag)
    return Run(feed.acked, applications, len(stage.tenants), (started, ended), moments, drained, feed.failed)


# -- servers of the caller's own ---------------------------------------------------------------
@contextlib.contextmanager
def own_kafka(state_dir: Path) -> Iterator[LocalKafka]:
    """A broker on free ports with a private state directory, stopped (only it) on the way out."""
    settings = Settings(kafka_bootstrap=f"{HOST}:{free_port()}", kafka_controller_port=free_port(), state_dir=state_dir)
    node = LocalKafka(settings)
    try:
        node.up()
        yield node
    finally:
        node.down()


@contextlib.contextmanager
def own_postgres() -> Iterator[tuple[LocalPostgres, str]]:
    """A PostgreSQL cluster on a free port with a private data directory, and its URL; stopped and removed after."""
    # Under /var/tmp, readable by all: as root the server runs as 'postgres', which cannot enter /tmp/pytest-of-root.
    directory = Path(tempfile.mkdtemp(prefix="crmbus-chaos-pg-", dir="/var/tmp"))
    directory.chmod(0o755)
    url = f"postgresql+psycopg://crmbus:crmbus@{HOST}:{free_port()}/crmbus"
    node = LocalPostgres(Settings(database_url=url, postgres_data_dir=directory))
    try:
        node.up()
        yield node, url
    finally:
        node.down()
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def own_schema(settings: Settings, schema: str) -> Iterator[Settings]:
    """The settings on ``schema`` of their database, migrated, dropped on the way out: a bench's
    tenants stay out of other workers' sight, and the shared schema may be at another revision."""
    url = database_url(settings)
    admin = make_engine(url, pool_size=1)
    try:
        engine = make_engine(url, schema=schema, pool_size=1)
        try:
            upgrade(engine, schema=schema)
        finally:
            engine.dispose()
        on_schema = url.update_query_dict({"options": f"-csearch_path={schema}"})
        yield settings.model_copy(update={"database_url": SecretStr(on_schema.render_as_string(hide_password=False))})
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
