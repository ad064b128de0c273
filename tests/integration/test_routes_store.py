"""Tenants, their seed flows and their routes in the real PostgreSQL, as workers load them."""

import logging

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from infra.core.secret_box import SecretBox
from infra.db.api_keys import ApiKeys
from infra.db.endpoints import Endpoints
from infra.db.models import AuditLog, EventMapping, Tenant, WebhookEndpoint
from infra.db.routes import Routes
from infra.db.tenants import Tenants, seed_route_id
from streams.envelope import Envelope
from streams.errors import ConfigurationError, InvalidRouteError
from streams.routes import RouteBook, fan_out
from streams.seed_flows import SEED_DESTINATIONS, SEED_ROUTES

SANDBOX = "http://127.0.0.1:18100/"
BOX = SecretBox(Fernet.generate_key())
"""Seals the sandbox's stand-in credentials, as in development: the seed routes start enabled."""


@pytest.fixture
def tenants(migrated):
    return Tenants(migrated, actor="test")


@pytest.fixture
def routes(migrated):
    return Routes(migrated, actor="test")


def seed_keys_of(routes, tenant_id):
    by_id = {seed_route_id(tenant_id, seed.key): seed.key for seed in SEED_ROUTES}
    return {by_id[view.id] for view in routes.list(tenant_id, include_disabled=True)}


def test_a_new_tenant_gets_exactly_the_seed_routes_and_destinations_at_the_sandbox(tenants, routes, migrated):
    view = tenants.create("acme", "Acme Cuidados", sandbox_url=SANDBOX, stand_ins=BOX)
    assert (view.id, view.name, view.status) == ("acme", "Acme Cuidados", "active")
    assert seed_keys_of(routes, "acme") == {seed.key for seed in SEED_ROUTES}
    with Session(migrated) as session:
        urls = {name: url for name, url in session.execute(select(WebhookEndpoint.name, WebhookEndpoint.url))}
    assert urls == {d.name: f"http://127.0.0.1:18100{d.path}" for d in SEED_DESTINATIONS}
    loaded = {route.id: route for route in routes.load_enabled()}
    feedback = loaded[str(seed_route_id("acme", "service.completed/zapi-feedback"))]
    assert (feedback.destination, feedback.action, feedback.delay_seconds) == ("zapi", "zapi.send_text", 7200)


def test_seeding_again_adds_nothing_and_leaves_a_disabled_seed_route_disabled(tenants, routes):
    tenants.create("acme", sandbox_url=SANDBOX, stand_ins=BOX)
    before = routes.list("acme", include_disabled=True)
    reply = seed_route_id("acme", "lead.created/zapi")
    routes.disable(reply)
    result = tenants.seed("acme", SANDBOX, BOX)
    assert (result.destinations_added, result.routes_added, result.skipped) == (0, 0, ())
    assert len(routes.list("acme", include_disabled=True)) == len(before)
    assert routes.get(reply).enabled is False


def test_a_tenant_created_bare_gets_every_seed_flow_when_seeded_later(tenants, routes):
    tenants.create("acme", sandbox_url=None)
    assert routes.list("acme", include_disabled=True) == []
    result = tenants.seed("acme", SANDBOX, BOX)
    assert (result.destinations_added, result.routes_added) == (len(SEED_DESTINATIONS), len(SEED_ROUTES))


def test_a_seed_route_is_skipped_where_the_tenant_uses_its_destination_name_for_another_kind(tenants, migrated):
    tenants.create("acme", sandbox_url=None)
    with Session(migrated) as session, session.begin():
        session.add(WebhookEndpoint(tenant_id="acme", name="zapi", kind="waha", url="http://127.0.0.1:3000"))
    result = tenants.seed("acme", SANDBOX, BOX)
    assert set(result.skipped) == {seed.key for seed in SEED_ROUTES if seed.destination == "zapi"}


@pytest.mark.parametrize("tenant_id", ["Acme", "acme corp", "-acme", "a" * 65, ""])
def test_a_tenant_id_must_be_a_slug(tenants, tenant_id):
    with pytest.raises(ConfigurationError, match="lower-case letters"):
        tenants.create(tenant_id, sandbox_url=SANDBOX, stand_ins=BOX)


def test_an_existing_tenant_cannot_be_created_again(tenants):
    tenants.create("acme", sandbox_url=SANDBOX, stand_ins=BOX)
    with pytest.raises(ConfigurationError, match="exists"):
        tenants.create("acme", sandbox_url=SANDBOX, stand_ins=BOX)
    assert [view.id for view in tenants.list()] == ["acme"]


def test_an_api_key_for_a_new_tenant_gives_it_the_seed_flows_and_an_existing_tenant_keeps_its_own(migrated, routes):
    keys = ApiKeys(migrated, actor="test", sandbox_url=SANDBOX)
    keys.create("acme", "site", tenant_name="Acme", stand_ins=BOX)
    assert seed_keys_of(routes, "acme") == {seed.key for seed in SEED_ROUTES}
    routes.disable(seed_route_id("acme", "lead.created/crm"))
    keys.create("acme", "zapi")
    assert routes.get(seed_route_id("acme", "lead.created/crm")).enabled is False
    assert len(routes.list("acme", include_disabled=True)) == len(SEED_ROUTES)
    with Session(migrated) as session:
        audited = [(row.action, row.details) for row in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert [action for action, _ in audited] == ["tenant.seed", "apikey.create", "route.disable", "apikey.create"]
    producer = {"scopes": "events:read,events:write"}
    assert [details for action, details in audited if action == "apikey.create"] == [
        producer | {"tenant_created": "true"},
        producer,
    ]


def test_add_refuses_an_unknown_field_in_a_filter_naming_it(tenants, routes):
    tenants.create("acme", sandbox_url=SANDBOX, stand_ins=BOX)
    with pytest.raises(InvalidRouteError) as refused:
        routes.add("acme", "lead.created", "crm", "crm.upsert_lead", filter={"canal": "site"})
    assert refused.value.field == "filter.canal"


def test_add_refuses_an_unknown_field_in_a_mapping_naming_it(tenants, routes):
    tenants.create("acme", sandbox_url=SANDBOX, stand_ins=BOX)
    mapping = {"fields": {"phone": {"from": "telefone", "format": "phone_digits"}}}
    with pytest.raises(InvalidRouteError) as refused:
        routes.add("acme", "lead.created", "zapi", "zapi.send_text", mapping=mapping)
    assert refused.value.field == "mapping.fields.phone.from"


@pytest.mark.parametrize(
    ("event_type", "destination", "action", "delay", "field"),
    [
        ("lead.exploded", "crm", "crm.upsert_lead", 0, "event_type"),
        ("lead.created", "hubspot", "crm.upsert_lead", 0, "destination"),
        ("lead.created", "crm", "Upsert Lead", 0, "action"),
        ("lead.created", "crm", "crm.upsert_lead", -1, "delay_seconds"),
        ("lead.created", "crm", "crm.upsert_lead", 8 * 86_400, "delay_seconds"),
    ],
)
def test_add_refuses_what_no_worker_could_apply_naming_the_field(
    tenants, routes, event_type, destination, action, delay, field
):
    tenants.create("acme", sandbox_url=SANDBOX, stand_ins=BOX)
    with pytest.raises(InvalidRouteError) as refused:
        routes.add("acme", event_type, destination, action, delay_seconds=delay)
    assert refused.value.field == field


def test_a_route_for_a_tenant_that_does_not_exist_is_refused(routes):
    with pytest.raises(ConfigurationError, match="no tenant"):
        routes.add("nobody", "lead.created", "crm", "crm.upsert_lead")


def test_an_added_route_is_listed_audited_and_loaded_compiled(tenants, routes, migrated):
    tenants.create("acme", sandbox_url=SANDBOX, stand_ins=BOX)
    view = routes.add(
        "acme", "payment.received", "financeiro", "financeiro.confirm_payment",
        filter={"method": "pix"}, mapping={"fields": {"amount": {"from": "amount_cents", "format": "cents_to_decimal"}}},
    )  # fmt: skip
    assert (view.destination, view.enabled, view.version, view.filter) == ("financeiro", True, 1, {"method": "pix"})
    assert routes.list(event_type="payment.received") == [view]
    [route] = routes.load_enabled(tenant_id="acme", event_type="payment.received")
    assert (route.id, route.destination, route.action) == (str(view.id), "financeiro", "financeiro.confirm_payment")
    assert route.mapping.apply({"amount_cents": 125000}, {}) == {"amount": "1250.00"}
    assert not route.filter.matches({"method": "boleto"}, {})
    with Session(migrated) as session:
        actions = [row.action for row in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["tenant.create", "tenant.seed", "route.add"]


def test_disable_and_enable_bump_the_version_and_the_fingerprint_and_what_workers_load(tenants, routes, migrated):
    tenants.create("acme", sandbox_url=SANDBOX, stand_ins=BOX)
    reply = seed_route_id("acme", "lead.created/zapi")
    first = routes.fingerprint()
    assert routes.fingerprint() == first
    disabled = routes.disable(reply)
    assert (disabled.enabled, disabled.version) == (False, 2)
    second = routes.fingerprint()
    assert second != first
    assert str(reply) not in {route.id for route in routes.load_enabled()}
    assert routes.list("acme").count(disabled) == 0
    enabled = routes.enable(reply)
    assert (enabled.enabled, enabled.version) == (True, 3)
    assert routes.fingerprint() not in {first, second}
    assert str(reply) in {route.id for route in routes.load_enabled()}
    assert routes.enable(reply).version == 3  # enabling an enabled route changes nothing
    with Session(migrated) as session:
        actions = [row.action for row in session.scalars(select(AuditLog).where(AuditLog.target_type == "route"))]
    assert actions == ["route.disable", "route.enable"]


@pytest.mark.parametrize(
    "change",
    [
        lambda session: session.execute(delete(EventMapping).where(EventMapping.action == "crm.log_interaction")),
        lambda session: session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.name == "email").values(enabled=False)
        ),
        lambda session: session.execute(update(Tenant).values(status="suspended")),
    ],
    ids=["route deleted", "endpoint disabled", "tenant suspended"],
)
def test_the_fingerprint_moves_on_changes_made_outside_the_repository(tenants, routes, migrated, change):
    tenants.create("acme", sandbox_url=SANDBOX, stand_ins=BOX)
    before, loaded = routes.fingerprint(), len(routes.load_enabled())
    with Session(migrated) as session, session.begin():
        change(session)
    assert routes.fingerprint() != before
    assert len(routes.load_enabled()) < loaded


def test_a_route_of_one_tenant_never_reaches_another_tenants_events(tenants, routes):
    tenants.create("acme", sandbox_url=SANDBOX, stand_ins=BOX)
    tenants.create("beta", sandbox_url=None)
    book = RouteBook(routes.load_enabled(), routes.fingerprint())
    assert len(book.routes_for("acme", "lead.created")) == 3
    assert book.routes_for("beta", "lead.created") == ()
    lead = {"name": "Maria Souza", "phone": "+5511987654321", "channel": "site"}
    event = Envelope(tenant_id="beta", type="lead.created", source="test", payload=lead)
    assert fan_out(event, book.routes_for("beta", "lead.created")).deliveries == ()
    assert fan_out(event, routes.load_enabled()).deliveries == ()


def test_a_stored_route_that_no_longer_compiles_is_skipped_by_id_and_the_others_load(tenants, routes, migrated, caplog):
    tenants.create("acme", sandbox_url=SANDBOX, stand_ins=BOX)
    broken = seed_route_id("acme", "lead.created/marketing")
    with Session(migrated) as session, session.begin():
        session.execute(update(EventMapping).where(EventMapping.id == broken).values(filter={"consentimento": True}))
    with caplog.at_level(logging.WARNING, logger="infra.db.routes"):
        loaded = {route.id for route in routes.load_enabled()}
    assert str(broken) not in loaded
    assert len(loaded) == len(SEED_ROUTES) - 1
    [record] = caplog.records
    assert str(broken) in record.getMessage()
    assert "filter.consentimento" in record.getMessage()


def test_without_stand_in_credentials_every_seed_route_starts_paused_and_none_is_loaded(tenants, routes, migrated):
    tenants.create("acme", sandbox_url=SANDBOX)
    listed = routes.list("acme", include_disabled=True)
    assert len(listed) == len(SEED_ROUTES) and not any(view.enabled for view in listed)
    crm = next(view for view in listed if view.destination == "crm")
    assert crm.paused == (
        "destination crm: a crm destination needs a secret; set it with: "
        'printf %s "$SECRET" | crmbus destinations set --tenant acme --name crm --url URL --secret-stdin'
    )
    assert routes.load_enabled() == []
    with Session(migrated) as session:
        [details] = session.scalars(select(AuditLog.details).where(AuditLog.action == "tenant.seed")).all()
    assert details["routes_paused"] == str(len(SEED_ROUTES))


def test_a_paused_route_cannot_be_enabled_and_a_route_added_to_its_destination_starts_paused(tenants, routes):
    tenants.create("acme", sandbox_url=SANDBOX)
    with pytest.raises(ConfigurationError, match="stays paused: destination crm: a crm destination needs a secret"):
        routes.enable(seed_route_id("acme", "lead.created/crm"))
    added = routes.add("acme", "payment.received", "financeiro", "financeiro.confirm_payment")
    assert (added.enabled, added.paused is not None) == (False, True)
    assert routes.get(seed_route_id("acme", "lead.created/crm")).enabled is False


def test_giving_a_destination_its_credential_resumes_its_paused_routes_and_only_those(tenants, routes, migrated):
    tenants.create("acme", sandbox_url=SANDBOX)
    view = Endpoints(migrated, BOX, actor="test").update("acme", "crm", secret="crm-token")
    assert (view.missing, view.resumed) == ((), 3)
    loaded = routes.load_enabled("acme")
    assert {route.destination for route in loaded} == {"crm"} and len(loaded) == 3
    assert all(view.paused is None for view in routes.list("acme"))


def test_an_enabled_route_stored_before_credentials_were_checked_is_not_loaded_and_says_why(
    tenants, routes, migrated, caplog
):
    tenants.create("acme", sandbox_url=SANDBOX)
    with Session(migrated) as session, session.begin():
        session.execute(update(EventMapping).values(enabled=True))
    with caplog.at_level(logging.WARNING, logger="infra.db.routes"):
        assert routes.load_enabled() == []
    assert "paused: destination crm: a crm destination needs a secret" in caplog.text


def test_a_route_to_a_rest_destination_names_one_of_its_configured_actions(tenants, routes, migrated):
    tenants.create("acme", "Acme Cuidados", sandbox_url=SANDBOX, stand_ins=BOX)
    view = routes.add("acme", "service.completed", "operacao", "rest.upsert_service")
    assert (view.action, view.enabled) == ("rest.upsert_service", True)
    for action in ("rest.book", "operacao.upsert_service", "crm.upsert_lead"):
        with pytest.raises(InvalidRouteError, match=r"rest\.upsert_appointment, rest\.upsert_service") as raised:
            routes.add("acme", "service.completed", "operacao", action)
        assert raised.value.field == "action"


def test_a_rest_destination_with_invalid_actions_is_refused(tenants, migrated):
    tenants.create("acme", "Acme Cuidados", sandbox_url=SANDBOX, stand_ins=BOX)
    endpoints = Endpoints(migrated, BOX, actor="test")
    bad = {"auth": {"type": "none"}, "actions": {"x": {"method": "GET", "path": "/x"}}}
    with pytest.raises(ConfigurationError, match=r"actions\.x\.method"):
        endpoints.add("acme", "legado", "rest", "https://legado.example.com.br", config=bad)
    with pytest.raises(ConfigurationError, match=r"actions\.x\.path"):
        endpoints.update("acme", "operacao", config={"actions": {"x": {"method": "PUT", "path": "x"}}})
