"""How an e-mail destination's URL and config become an SMTP server to send through, or are refused."""

import pytest

from connectors.destinations import HttpClients, connector_for
from connectors.destinations.email import EmailDestination
from connectors.destinations.smtp import SmtpEmailDestination
from connectors.smtp import SmtpServer, is_smtp_url
from connectors.ssrf import OutboundPolicy
from streams.errors import ConfigurationError, PermanentDeliveryError, UnsafeDestinationError

PRODUCTION = OutboundPolicy()
TESTS = OutboundPolicy(allow_loopback=True)
SENDER = {"sender": "atendimento@clinica.com.br"}


def server(url, config=None, secret=None, policy=PRODUCTION):
    return SmtpServer.from_destination(url, config or {}, secret, policy, helo="clinica.com.br")


@pytest.mark.parametrize(
    ("url", "config", "port", "tls"),
    [
        ("smtp://smtp.example.com", {}, 587, "starttls"),
        ("smtp://smtp.example.com:2525", {}, 2525, "starttls"),
        ("smtp://smtp.example.com:587", {"tls": "starttls"}, 587, "starttls"),
        ("smtps://smtp.example.com", {}, 465, "implicit"),
        ("SMTPS://smtp.example.com:4650", {"tls": "implicit"}, 4650, "implicit"),
    ],
)
def test_the_scheme_chooses_starttls_or_tls_from_the_first_byte_and_its_default_port(url, config, port, tls):
    found = server(url, config)

    assert (found.host, found.port, found.tls) == ("smtp.example.com", port, tls)


def test_smtp_in_clear_is_allowed_only_to_loopback_and_only_when_loopback_is_allowed():
    assert server("smtp://127.0.0.1:2525", {"tls": "none"}, policy=TESTS).tls == "none"
    assert server("smtp://localhost", {"tls": "none"}, policy=TESTS).port == 25
    with pytest.raises(UnsafeDestinationError, match="without TLS"):
        server("smtp://127.0.0.1:2525", {"tls": "none"})
    with pytest.raises(UnsafeDestinationError, match="without TLS"):
        server("smtp://smtp.example.com", {"tls": "none"}, policy=TESTS)


@pytest.mark.parametrize(
    ("url", "config", "error", "complaint"),
    [
        ("smtps://smtp.example.com", {"tls": "none"}, ConfigurationError, "tls of an smtps:// destination"),
        ("smtp://smtp.example.com", {"tls": "implicit"}, ConfigurationError, "tls of an smtp:// destination"),
        ("smtp://smtp.example.com", {"tls": True}, ConfigurationError, "tls of an smtp:// destination"),
        ("smtp://user:pass@smtp.example.com", {}, UnsafeDestinationError, "must not carry credentials"),
        ("smtp://smtp.example.com/relay", {}, ConfigurationError, "no path"),
        ("smtp://10.0.0.5", {}, UnsafeDestinationError, "private"),
        ("smtp://169.254.169.254", {}, UnsafeDestinationError, "link-local"),
        ("smtp://2130706433", {}, UnsafeDestinationError, "not a canonical IP address"),
        ("smtp://smtp.example.com", {"timeouts": {"read": 0}}, ConfigurationError, "timeouts.read"),
        ("smtp://smtp.example.com", {"max_connections": 0}, ConfigurationError, "max_connections"),
        ("smtp://smtp.example.com", {"username": "apikey"}, ConfigurationError, "needs its password as the secret"),
        ("smtp://smtp.example.com", {"username": ""}, ConfigurationError, "username must be non-empty"),
    ],
)
def test_a_server_that_cannot_be_reached_safely_is_refused_when_configured(url, config, error, complaint):
    with pytest.raises(error, match=complaint):
        server(url, config)


def test_the_password_is_the_secret_only_with_a_username_and_never_in_a_repr():
    with_login = server("smtp://smtp.example.com", {"username": "apikey"}, secret="SG.s3cr3t")
    relay = server("smtp://smtp.example.com", {}, secret="left-over-bearer-token")

    assert (with_login.username, with_login.password) == ("apikey", "SG.s3cr3t")
    assert "SG.s3cr3t" not in repr(with_login)
    assert (relay.username, relay.password) == (None, None)


def test_same_settings_are_the_same_server_and_a_new_password_is_another():
    one = server("smtp://smtp.example.com", {"username": "u"}, secret="a")

    assert one == server("smtp://smtp.example.com", {"username": "u"}, secret="a")
    assert one != server("smtp://smtp.example.com", {"username": "u"}, secret="b")


@pytest.mark.parametrize(
    ("url", "smtp"),
    [("smtp://smtp.example.com", True), ("smtps://x.example.com:465", True), ("https://api.example.com", False)],
)
def test_a_url_says_whether_it_names_an_smtp_server(url, smtp):
    assert is_smtp_url(url) is smtp


def test_an_email_destination_sends_through_smtp_or_the_http_api_as_its_url_says():
    clients = HttpClients(PRODUCTION)

    over_smtp = connector_for("email", url="smtp://smtp.example.com", config=SENDER, secret=None, client=clients)
    over_http = connector_for("email", url="https://mail.example.com", config=SENDER, secret="t", client=clients)

    assert isinstance(over_smtp, SmtpEmailDestination) and over_smtp.kind == "email"
    assert isinstance(over_http, EmailDestination)


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({}, "needs sender"),
        ({"sender": "not an address"}, "sender must be an ASCII e-mail address"),
        ({**SENDER, "helo": "two words"}, "helo must be a host name"),
        ({**SENDER, "templates": {"boas_vindas": {"subject": "{x", "text": "t"}}}, "unmatched brace"),
    ],
)
def test_an_smtp_destination_that_cannot_send_is_a_permanent_error_naming_the_setting(config, complaint):
    with pytest.raises(PermanentDeliveryError, match=complaint):
        connector_for("email", url="smtp://smtp.example.com", config=config, secret=None, client=HttpClients(TESTS))


def test_only_email_destinations_may_have_an_smtp_url():
    with pytest.raises(UnsafeDestinationError, match="https"):
        connector_for("crm", url="smtp://smtp.example.com", config={}, secret="s", client=HttpClients(TESTS))
