import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.errors import InvalidRouteError
from streams.route_filter import RouteFilter, compile_filter
from tests.builtin_types import example, paths

LEAD = example("lead.created")
MESSAGE = example("whatsapp.message.received")
PAYMENT = example("payment.received")
META = {
    "id": "0b6f7c1e-3d7a-4c1a-9a51-2f0e8c1d9b10",
    "type": "lead.created",
    "tenant_id": "cuidar-sp",
    "source": "site",
    "occurred_at": "2026-03-05T13:42:13Z",
    "correlation_id": None,
}


def matches(spec, payload=LEAD, meta=META):
    return compile_filter(spec).matches(payload, meta)


def refusal(spec, event_type=None):
    with pytest.raises(InvalidRouteError) as raised:
        compile_filter(spec, paths=None if event_type is None else paths(event_type))
    return raised.value


def test_an_empty_filter_matches_every_event():
    assert matches({})
    assert matches({}, payload={}, meta={})


def test_a_scalar_condition_is_equality():
    assert matches({"channel": "site"})
    assert not matches({"channel": "whatsapp"})


def test_every_condition_of_a_filter_must_hold():
    assert matches({"channel": "site", "service_interest": "caregiver"})
    assert not matches({"channel": "site", "service_interest": "nurse"})


def test_a_nested_path_reads_inside_the_payload():
    assert matches({"campaign.utm_source": "google"})
    assert not matches({"campaign.utm_source": "meta"})


def test_envelope_fields_are_read_from_meta():
    assert matches({"$event.tenant_id": "cuidar-sp", "$event.source": {"in": ["site", "crm"]}})
    assert not matches({"$event.tenant_id": "outra-clinica"})


def test_any_holds_when_one_of_its_filters_holds():
    spec = {"$any": [{"channel": "whatsapp"}, {"campaign.utm_medium": "cpc"}]}
    assert matches(spec)
    assert not matches({"$any": [{"channel": "whatsapp"}, {"campaign.utm_medium": "email"}]})


def test_any_is_anded_with_the_other_keys_of_its_filter():
    spec = {"service_interest": "nurse", "$any": [{"channel": "site"}, {"channel": "whatsapp"}]}
    assert not matches(spec)
    assert matches({**spec, "service_interest": "caregiver"})


def test_any_may_nest():
    spec = {"$any": [{"channel": "phone"}, {"$any": [{"origin": {"prefix": "lp-"}}, {"channel": "email"}]}]}
    assert matches(spec)


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"eq": "site"}, True),
        ({"eq": "whatsapp"}, False),
        ({"ne": "whatsapp"}, True),
        ({"ne": "site"}, False),
        ({"in": ["whatsapp", "site"]}, True),
        ({"in": ["whatsapp", "phone"]}, False),
        ({"not_in": ["whatsapp", "phone"]}, True),
        ({"not_in": ["site"]}, False),
        ({"exists": True}, True),
        ({"exists": False}, False),
        ({"prefix": "si"}, True),
        ({"prefix": "Si"}, False),
        ({"gt": "sitf"}, False),
        ({"gt": "sita"}, True),
        ({"gte": "site"}, True),
        ({"lt": "sitf"}, True),
        ({"lte": "sitd"}, False),
        ({"ne": "whatsapp", "prefix": "s", "exists": True}, True),
        ({"ne": "whatsapp", "prefix": "w"}, False),
    ],
)
def test_each_operator_on_a_present_text_value(condition, holds):
    assert matches({"channel": condition}) is holds


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"gt": 100000}, True),
        ({"gt": 125000}, False),
        ({"gte": 125000}, True),
        ({"lt": 125000.5}, True),
        ({"lte": 124999}, False),
        ({"gte": 100000, "lt": 200000}, True),
        ({"eq": 125000.0}, True),
        ({"in": [125000, 250000]}, True),
    ],
)
def test_numbers_compare_as_numbers(condition, holds):
    assert matches({"amount_cents": condition}, payload=PAYMENT) is holds


def test_iso_datetimes_compare_as_strings_in_time_order():
    assert matches({"paid_at": {"gte": "2026-03-05", "lt": "2026-03-06"}}, payload=PAYMENT)
    assert not matches({"paid_at": {"gt": "2026-03-05T13:42:13Z"}}, payload=PAYMENT)


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"exists": False}, True),
        ({"exists": True}, False),
        ({"eq": "Ana"}, False),
        ({"in": ["Ana", "Bia"]}, False),
        ({"gt": ""}, False),
        ({"lte": 10}, False),
        ({"prefix": ""}, False),
        ({"ne": "Ana"}, True),
        ({"not_in": ["Ana"]}, True),
        ({"eq": None}, True),
        ({"ne": None}, False),
        ({"in": ["Ana", None]}, True),
    ],
)
def test_a_missing_path_satisfies_only_absence_and_negations(condition, holds):
    assert matches({"contact_name": condition}, payload={**MESSAGE, "contact_name": None}) is holds
    assert matches({"media.url": condition}, payload=MESSAGE) is holds


def test_a_null_envelope_field_is_missing():
    assert matches({"$event.correlation_id": {"exists": False}})
    assert matches({"$event.correlation_id": None})


def test_a_boolean_never_equals_a_number():
    assert matches({"edited": False}, payload=MESSAGE)
    assert not matches({"edited": 0}, payload=MESSAGE)
    assert not matches({"edited": {"in": [0, 1]}}, payload=MESSAGE)
    assert matches({"edited": {"in": [False]}}, payload=MESSAGE)
    assert not matches({"amount_cents": {"in": [True]}}, payload={"amount_cents": 1})


def test_an_order_or_prefix_against_another_kind_of_value_does_not_hold():
    assert not matches({"amount_cents": {"gt": "1"}}, payload=PAYMENT)
    assert not matches({"paid_at": {"gt": 0}}, payload=PAYMENT)
    assert not matches({"amount_cents": {"prefix": "12"}}, payload=PAYMENT)
    assert not matches({"edited": {"lt": 1}}, payload=MESSAGE)


def test_an_object_value_is_present_but_equals_no_scalar():
    assert matches({"campaign": {"exists": True}})
    assert not matches({"campaign": {"in": ["google"]}})
    assert matches({"campaign": {"ne": "google"}})


def test_a_filter_keeps_a_copy_of_its_spec_for_display():
    spec = {"channel": {"in": ["site"]}}
    route_filter = compile_filter(spec)
    spec["channel"]["in"].append("whatsapp")
    assert route_filter.spec == {"channel": {"in": ["site"]}}
    assert not route_filter.matches({"channel": "whatsapp"}, META)
    assert isinstance(route_filter, RouteFilter)


def test_a_filter_checked_against_its_event_type_accepts_known_and_envelope_paths():
    spec = {"campaign.utm_source": "google", "$event.source": "site", "$any": [{"email": {"exists": True}}]}
    assert compile_filter(spec, paths=paths("lead.created")).matches(LEAD, META)


@pytest.mark.parametrize(
    ("spec", "event_type", "field"),
    [
        ({"campaign.utm_sorce": "google"}, "lead.created", "filter.campaign.utm_sorce"),
        ({"$any": [{"channel": "site"}, {"chanel": "site"}]}, "lead.created", "filter.$any[1].chanel"),
        ({"$any": [{"$any": [{"amount": {"gt": 1}}]}]}, "payment.received", "filter.$any[0].$any[0].amount"),
        ({"$event.payload": "x"}, None, "filter.$event.payload"),
        ({"$all": []}, None, "filter.$all"),
        ({"campaign..utm_source": "google"}, None, "filter.campaign..utm_source"),
        ({"channel": ["site", "whatsapp"]}, None, "filter.channel"),
        ({"channel": {}}, None, "filter.channel"),
        ({"channel": {"equals": "site"}}, None, "filter.channel"),
        ({"channel": {"eq": ["site"]}}, None, "filter.channel"),
        ({"channel": {"in": "site"}}, None, "filter.channel"),
        ({"channel": {"not_in": [["site"]]}}, None, "filter.channel"),
        ({"channel": {"exists": "yes"}}, None, "filter.channel"),
        ({"amount_cents": {"gt": True}}, None, "filter.amount_cents"),
        ({"amount_cents": {"lte": None}}, None, "filter.amount_cents"),
        ({"origin": {"prefix": 1}}, None, "filter.origin"),
        ({"$any": []}, None, "filter.$any"),
        ({"$any": {"channel": "site"}}, None, "filter.$any"),
        ({"$any": ["channel"]}, None, "filter.$any[0]"),
        (["channel"], None, "filter"),
    ],
)
def test_an_invalid_filter_is_refused_naming_where(spec, event_type, field):
    error = refusal(spec, event_type)
    assert error.field == field
    assert str(error).startswith(f"{field}: ")


@pytest.mark.parametrize(
    "condition",
    [
        {"eq": ["+5511987654321"]},
        {"in": "+5511987654321"},
        {"prefix": 5511987654321},
        {"gt": [5511987654321]},
        {"exists": "+5511987654321"},
    ],
)
def test_a_refusal_never_repeats_a_value_of_the_filter(condition):
    error = refusal({"phone": condition})
    assert "5511987654321" not in str(error)


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from([0.0, 1.0, 2.5]), st.text(max_size=3))


@given(value=scalars, listed=st.lists(scalars, max_size=4))
def test_in_is_any_of_the_equalities_and_not_in_its_negation(value, listed):
    payload = {"field": value}
    as_equalities = any(matches({"field": item}, payload=payload) for item in listed)
    assert matches({"field": {"in": listed}}, payload=payload) is as_equalities
    assert matches({"field": {"not_in": listed}}, payload=payload) is not as_equalities


@given(value=scalars, other=scalars)
def test_ne_is_the_negation_of_eq(value, other):
    payload = {"field": value}
    assert matches({"field": {"ne": other}}, payload=payload) is not matches({"field": {"eq": other}}, payload=payload)
