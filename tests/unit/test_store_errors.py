"""A repository raises our errors, never SQLAlchemy's: PostgreSQL away is ServiceUnreachableError,
a refusal that will recur is StoreRefusedError, any other answer with an error StoreError; the
name reported is still the one PostgreSQL's driver gave."""

import pytest
from sqlalchemy.exc import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    ResourceClosedError,
)

from infra.db.errors import error_name, translated
from streams.errors import ServiceUnreachableError, StoreError, StoreRefusedError


def raising(error):
    @translated("reading routes")
    def read():
        raise error

    return read


def driver(kind):
    return kind("SELECT 1", {}, Exception("from the driver"))


@pytest.mark.parametrize("kind", [OperationalError, InterfaceError])
def test_postgresql_not_answering_is_service_unreachable(kind):
    with pytest.raises(ServiceUnreachableError, match="PostgreSQL unreachable while reading routes") as raised:
        raising(driver(kind))()
    assert isinstance(raised.value.__cause__, kind)
    assert error_name(raised.value) == kind.__name__


@pytest.mark.parametrize("kind", [DataError, IntegrityError, ProgrammingError])
def test_a_refusal_that_will_recur_is_store_refused(kind):
    with pytest.raises(StoreRefusedError, match="PostgreSQL refused reading routes") as raised:
        raising(driver(kind))()
    assert error_name(raised.value) == kind.__name__


def test_any_other_database_error_is_a_store_error():
    with pytest.raises(StoreError) as raised:
        raising(ResourceClosedError("closed"))()
    assert not isinstance(raised.value, StoreRefusedError)
    assert error_name(raised.value) == "ResourceClosedError"


def test_what_is_not_a_database_error_passes_unchanged():
    with pytest.raises(KeyError):
        raising(KeyError("a bug of ours"))()


def test_an_error_of_ours_from_elsewhere_keeps_its_own_name():
    unreachable = ServiceUnreachableError("kafka: _TRANSPORT")
    unreachable.__cause__ = TimeoutError()
    assert error_name(unreachable) == "ServiceUnreachableError"
