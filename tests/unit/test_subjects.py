"""Finding the people a payload is about, by the identifiers an LGPD request names them by."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from infra.core.subject_index import SubjectIndex
from streams.subjects import Subject, subject, subjects_in
from streams.ticks import daily_tick, tick_of

pytestmark = pytest.mark.unit


def test_identifiers_are_found_at_any_depth_under_their_conventional_keys():
    payload = {
        "lead_id": "L-1",
        "contact": {"Telefone": "(11) 99999-0000", "email": "Ana@Example.COM"},
        "guardians": [{"cpf": "123.456.789-09"}, {"phone": "+5521988887777"}],
    }
    assert subjects_in(payload) == {
        Subject("phone", "+5511999990000"),
        Subject("email", "ana@example.com"),
        Subject("cpf", "12345678909"),
        Subject("phone", "+5521988887777"),
    }


def test_a_declared_personal_path_is_recognised_by_the_shape_of_its_value():
    payload = {"responsavel": {"contato": "ana@example.com", "doc": "123.456.789-09"}, "obs": "11 99999-0000"}
    assert subjects_in(payload, ["responsavel.contato", "responsavel.doc"]) == {
        Subject("email", "ana@example.com"),
        Subject("cpf", "12345678909"),
    }


def test_values_that_are_not_identifiers_are_ignored():
    assert subjects_in({"phone": "not a phone", "email": 42, "cpf": True, "name": "Ana"}) == frozenset()


def test_one_person_has_one_identifier_however_it_was_written():
    assert subject("phone", "11 9999-0000") == subject("phone", "+55 (11) 99999-0000")
    with pytest.raises(ValueError, match="11 digits"):
        subject("cpf", "123")


def test_a_digest_names_its_kind_and_depends_on_the_key():
    person = Subject("phone", "+5511999990000")
    digest = SubjectIndex(b"k1").digest(person)
    assert digest.startswith("phone:") and "5511999990000" not in digest
    assert digest == SubjectIndex(b"k1").digest(person) != SubjectIndex(b"k2").digest(person)


def test_every_process_computes_the_same_tick_for_a_moment():
    assert tick_of(datetime(2026, 12, 5, 10, 7, 31, tzinfo=UTC), 300) == datetime(2026, 12, 5, 10, 5, tzinfo=UTC)
    brasilia = timezone(timedelta(hours=-3))
    assert daily_tick(datetime(2026, 12, 5, 10, 0, tzinfo=UTC), time(6, 0, tzinfo=brasilia)) == datetime(
        2026, 12, 5, 9, 0, tzinfo=UTC
    )
    assert daily_tick(datetime(2026, 12, 5, 8, 0, tzinfo=UTC), time(6, 0, tzinfo=brasilia)) == datetime(
        2026, 12, 4, 9, 0, tzinfo=UTC
    )
