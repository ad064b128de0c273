import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.phone import AREA_CODES, normalise_phone


@pytest.mark.parametrize(
    "raw",
    ["+55 11 98765-4321", "11987654321", "5511987654321", "(11) 98765-4321", "011 98765-4321", " 11.98765.4321 "],
)
def test_the_usual_brazilian_formats_become_one_e164_number(raw):
    assert normalise_phone(raw) == "+5511987654321"


def test_a_landline_keeps_its_eight_digits():
    assert normalise_phone("(21) 3222-1000") == "+552132221000"


@pytest.mark.parametrize("raw", ["551187654321", "+55 11 8765-4321", "11 8765-4321"])
def test_a_mobile_written_without_the_ninth_digit_gains_it(raw):
    assert normalise_phone(raw) == "+5511987654321"


def test_a_foreign_number_is_accepted_when_written_with_plus():
    assert normalise_phone("+351 912 345 678") == "+351912345678"


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("351912345678", "8 or 9 digits"),
        ("+55 10 98765-4321", "area code"),
        ("11 88765-4321", "must start with 9"),
        ("11 1765-4321", "landline must start"),
        ("1198765", "8 or 9 digits"),
        ("11 9876-ABCD", "only digits"),
        ("", "only digits"),
        ("+0 123 456 789", "country code"),
    ],
)
def test_clearly_invalid_numbers_are_refused_with_the_rule_they_break(raw, rule):
    with pytest.raises(ValueError, match=rule):
        normalise_phone(raw)


mobiles = st.tuples(st.sampled_from(sorted(AREA_CODES)), st.from_regex(r"9[0-9]{8}", fullmatch=True))


@given(mobiles)
def test_every_format_of_a_mobile_round_trips_to_the_same_e164(mobile):
    area, subscriber = mobile
    e164 = f"+55{area}{subscriber}"
    spellings = [
        f"({area}) {subscriber[:5]}-{subscriber[5:]}",
        f"{area}{subscriber}",
        f"55{area}{subscriber}",
        f"+55 {area} {subscriber[:5]}-{subscriber[5:]}",
        f"0{area} {subscriber}",
    ]
    assert {normalise_phone(spelling) for spelling in spellings} == {e164}
    assert normalise_phone(e164) == e164


def refusal_message(raw):
    try:
        normalise_phone(raw)
    except ValueError as exc:
        return str(exc)
    return ""


@given(st.from_regex(r"[0-9]{6,16}", fullmatch=True))
def test_a_refusal_never_repeats_the_number(digits):
    assert digits not in refusal_message(digits)
