"""Who may see the dashboard: loopback without a token; anywhere else only with one."""

import base64

import pytest
from pydantic import SecretStr

from ingress.console.access import check_exposure, on_loopback, presented
from streams.errors import ConfigurationError

TOKEN = SecretStr("a-token-long-enough-1234")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_are_recognised(host):
    assert on_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.0.10", "dashboard.example.com", ""])
def test_every_other_address_is_not_loopback(host):
    assert not on_loopback(host)


def test_loopback_needs_no_token():
    check_exposure("127.0.0.1", None)


def test_listening_off_loopback_without_a_token_is_refused():
    with pytest.raises(ConfigurationError, match="CRMBUS_DASHBOARD_TOKEN"):
        check_exposure("0.0.0.0", None)


def test_listening_off_loopback_with_a_token_is_allowed():
    check_exposure("0.0.0.0", TOKEN)


def test_a_short_token_is_refused_wherever_it_listens():
    with pytest.raises(ConfigurationError, match="at least 16"):
        check_exposure("127.0.0.1", SecretStr("short"))


def test_a_bearer_token_is_read_from_the_authorization_header():
    assert presented("Bearer abc") == "abc"


def test_a_browser_gives_the_token_as_the_password_of_http_basic():
    assert presented("Basic " + base64.b64encode(b"operator:abc:def").decode()) == "abc:def"


@pytest.mark.parametrize("header", ["", "Token abc", "Basic not-base64!"])
def test_anything_else_presents_no_token(header):
    assert presented(header) is None
