"""The admin API's turns in the real PostgreSQL: requests on one idempotency key or resource wait
for each other, in any process, and give up after their wait."""

import uuid

import pytest

from infra.db.admin_requests import AdminRequests, RequestInProgressError


@pytest.fixture
def requests_store(db_schema):
    return AdminRequests(db_schema())


def test_a_second_hold_on_a_name_gives_up_after_its_wait_and_gets_it_once_released(requests_store):
    name = f"update /v1/tenants/acme/destinations/{uuid.uuid4().hex}"
    release = requests_store.hold(name)
    with pytest.raises(RequestInProgressError):
        requests_store.hold(name, wait_s=0.2)
    release()
    requests_store.hold(name, wait_s=0.2)()


def test_holds_on_different_names_do_not_wait_for_each_other(requests_store):
    first = requests_store.hold(f"idempotency {uuid.uuid4()}")
    try:
        requests_store.hold(f"idempotency {uuid.uuid4()}", wait_s=0.2)()
    finally:
        first()
