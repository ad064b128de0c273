"""When PostgreSQL goes away, keys the ingress verified recently keep working from its cache;
a key it cannot check gets a clear 503, never a 401 and never a 202."""

from connectors.kafka.admin import apply_catalogue
from infra.core.settings import Settings
from infra.db.api_keys import ApiKeys
from infra.db.engine import database_url, make_engine
from infra.db.migrate import upgrade
from infra.local.postgres_node import LocalPostgres
from schemas.catalogue import load_catalogue
from tests.conftest import free_port
from tests.integration.ingress_harness import LEAD, bearer, end_offsets, run, running_ingress


def test_cached_keys_keep_working_and_unknown_ones_get_503_while_postgres_is_down(
    kafka_bootstrap, kafka_admin, topic_prefix, own_postgres_dir
):
    apply_catalogue(kafka_admin, load_catalogue().with_prefix(topic_prefix), replication_factor=1)
    database = Settings(
        database_url=f"postgresql+psycopg://crmbus:pw@127.0.0.1:{free_port()}/crmbus",
        postgres_data_dir=own_postgres_dir,
    )
    postgres = LocalPostgres(database)
    postgres.up()
    try:
        engine = make_engine(database_url(database), pool_size=1)
        upgrade(engine)
        keys = ApiKeys(engine)
        _, seen = keys.create("acme", "site")
        _, unseen = keys.create("acme", "other")
        engine.dispose()
        settings = database.model_copy(update={"kafka_bootstrap": kafka_bootstrap, "topic_prefix": topic_prefix})
        lanes = [f"{topic_prefix}crmbus.events{s}" for s in (".high", "", ".low")]

        async def go():
            answers = []
            async with running_ingress(settings) as (_, client):

                async def post(key):
                    async with client.post(
                        "/v1/events", json={"type": "lead.created", "payload": LEAD}, headers=bearer(key)
                    ) as r:
                        answers.append((r.status, r.headers.get("Retry-After"), await r.json(content_type=None)))

                await post(seen)
                postgres.down()
                await post(seen)
                await post(unseen)
            return answers

        before = end_offsets(kafka_bootstrap, lanes)
        answers = run(go())
    finally:
        postgres.down()
    assert [status for status, _, _ in answers] == [202, 202, 503]
    assert answers[2][2]["type"] == "urn:crmbus:problem:dependency-unavailable"
    assert int(answers[2][1]) > 0
    assert sum(end_offsets(kafka_bootstrap, lanes).values()) - sum(before.values()) == 2
