"""The catalogue a process applies: tenants' types re-read only when their fingerprint moved, at
once for a type met unknown (rate-limited where clients could loop), and a stop that lets a
refresh under way end."""

import asyncio
import threading

from infra.core.live_catalogue import LiveCatalogue
from streams.event_type import event_type_from_document
from tests.builtin_types import CATALOGUE

PEDIDO = event_type_from_document(
    {
        "name": "pedido.criado",
        "version": 1,
        "schema": {"type": "object", "properties": {"pedido_id": {"type": "string"}}},
    },
    tenant_id="acme",
)


class Store:
    """The tenants' types as PostgreSQL would hold them, counting the queries."""

    def __init__(self) -> None:
        self.types: list = []
        self.loads = self.fingerprints = 0

    def load(self) -> list:
        self.loads += 1
        return list(self.types)

    def fingerprint(self) -> str:
        self.fingerprints += 1
        return str(len(self.types))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def live(store: Store, clock: Clock | None = None) -> LiveCatalogue:
    return LiveCatalogue(CATALOGUE, store.load, store.fingerprint, poll_s=60, clock=clock or Clock())


def test_a_tenants_type_is_loaded_once_its_fingerprint_moves_and_not_reloaded_while_it_stays():
    store = Store()
    catalogue = live(store)
    assert asyncio.run(catalogue.refresh()) is True  # the first refresh always loads
    store.types.append(PEDIDO)
    assert asyncio.run(catalogue.refresh()) is True
    assert asyncio.run(catalogue.refresh()) is False
    assert store.loads == 2
    assert catalogue.current.get("acme", "pedido.criado") is not None
    assert catalogue.current.get("other", "pedido.criado") is None, "a tenant's type is its own"
    assert catalogue.current.get("acme", "lead.created") is not None, "built-in types stay"


def test_a_type_met_unknown_is_looked_for_at_most_once_a_second_unless_asked_every_time():
    store, clock = Store(), Clock()
    catalogue = live(store, clock)
    asyncio.run(catalogue.refresh())
    store.types.append(PEDIDO)
    asyncio.run(catalogue.refresh_for_unknown())
    assert catalogue.current.get("acme", "pedido.criado") is None, "refreshed a moment ago"
    asyncio.run(catalogue.refresh_for_unknown(at_most_every_s=0.0))
    assert catalogue.current.get("acme", "pedido.criado") is not None


def test_a_type_met_unknown_during_a_refresh_waits_for_that_refresh():
    store = Store()
    store.types.append(PEDIDO)
    querying, release = threading.Event(), threading.Event()

    def slow_fingerprint() -> str:
        querying.set()
        release.wait(10)
        return store.fingerprint()

    catalogue = LiveCatalogue(CATALOGUE, store.load, slow_fingerprint, poll_s=60, clock=Clock())

    async def scenario() -> None:
        under_way = asyncio.create_task(catalogue.refresh())
        await asyncio.to_thread(querying.wait, 10)
        asked = asyncio.create_task(catalogue.refresh_for_unknown())
        await asyncio.sleep(0)
        assert not asked.done(), "it waits instead of calling the type unknown"
        release.set()
        await asked
        assert catalogue.current.get("acme", "pedido.criado") is not None
        await under_way

    asyncio.run(scenario())


def test_a_stop_lets_the_refresh_under_way_end_before_run_returns():
    store = Store()
    querying, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def slow_fingerprint() -> str:
        querying.set()
        release.wait(10)
        finished.append(True)
        return store.fingerprint()

    catalogue = LiveCatalogue(CATALOGUE, store.load, slow_fingerprint, poll_s=60, clock=Clock())

    async def scenario() -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(catalogue.run(until=stop))
        await asyncio.to_thread(querying.wait, 10)
        stop.set()
        release.set()
        await asyncio.wait_for(running, 10)

    asyncio.run(scenario())
    assert finished == [True]
