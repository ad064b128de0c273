"""The ingress application: routes, middlewares, and the resources one process holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

from aiohttp import web

from connectors.kafka.producer import AsyncProducer, producer_config
from connectors.kafka.schema_registry import schema_ids
from infra.core.collector import tune_for_streams
from infra.core.secret_box import SecretBox
from infra.core.settings import Settings
from infra.db.api_keys import ApiKeys
from infra.db.engine import make_engine
from infra.db.inbound_sources import InboundSources
from ingress.api import events, operations, webhooks
from ingress.api.auth import CachedLookup, not_rotated_out
from ingress.api.limits import RequestLimits
from ingress.api.publisher import EventPublisher
from ingress.api.state import STATE, IngressState
from ingress.http.middleware import observe, problems
from schemas.avro_schemas import load_schema
from schemas.codec import AvroCodec
from schemas.topic_names import TopicNames
from streams.lanes import Lanes
from streams.rate_limit import Limit
from streams.signatures import ReplayGuard


def build_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[observe, problems], client_max_size=settings.ingress_max_body_bytes + 1)
    app.add_routes([*events.routes(), *webhooks.routes(), *operations.routes()])
    app.cleanup_ctx.append(partial(_resources, settings))
    return app


async def _resources(settings: Settings, app: web.Application) -> AsyncIterator[None]:
    """Open the producer, the database pool and the codec at start; flush and close at stop."""
    engine = make_engine(settings.database, pool_size=4)
    lanes = Lanes.configure(
        TopicNames(settings.topic_prefix).lanes, settings.high_priority_types, settings.low_priority_types
    )
    codec = AvroCodec(load_schema("envelope.v1.avsc"), f"{lanes.topics[1]}-value", schema_ids(settings))
    workers = settings.ingress_workers
    config = producer_config(settings.kafka_bootstrap, settings.kafka_delivery_timeout_s, settings.kafka_linger_ms)
    async with AsyncProducer(config) as producer:
        app[STATE] = IngressState(
            settings=settings,
            engine=engine,
            producer=producer,
            publisher=EventPublisher(producer, codec, lanes),
            api_keys=CachedLookup(
                ApiKeys(engine).principal,
                settings.api_key_cache_ttl_s,
                settings.api_key_cache_stale_s,
                still_valid=not_rotated_out,
            ),
            sources=CachedLookup(
                InboundSources(engine, SecretBox.from_settings(settings)).resolve,
                settings.api_key_cache_ttl_s,
                settings.api_key_cache_stale_s,
            ),
            replays=ReplayGuard(),
            limits=RequestLimits(
                Limit(settings.rate_limit_tenant_per_s / workers, max(1.0, settings.rate_limit_tenant_burst / workers)),
                Limit(settings.rate_limit_key_per_s / workers, max(1.0, settings.rate_limit_key_burst / workers)),
            ),
        )
        # Everything built so far lives as long as the process: keep it out of the collector's
        # full passes, whose pauses over these objects showed up as tail latency, and collect
        # each request's young objects in larger, rarer passes.
        tune_for_streams()
        yield
    engine.dispose()
