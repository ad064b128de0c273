"""What a destination needs before it can be called: the same rules as the connectors apply."""

import pytest

from connectors.destinations import connector_for
from connectors.http import HttpClients
from connectors.ssrf import OutboundPolicy
from streams import standard_webhooks
from streams.credentials import describe_missing, missing_credentials, setup_command
from streams.errors import PermanentDeliveryError
from streams.routes import DESTINATIONS

pytestmark = pytest.mark.unit

WEBHOOK_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

# Per kind (and e-mail over SMTP): a URL, and each credential it needs as (name, config, secret).
COMPLETE = {
    "crm": ("https://crm.example.com.br", {}, "token"),
    "financeiro": ("https://fin.example.com.br", {}, "token"),
    "zapi": ("https://api.z-api.io", {"instance_id": "i", "token": "t"}, "client-token"),
    "waha": ("https://waha.example.com.br", {}, None),
    "email": ("https://mail.example.com.br", {}, "token"),
    "marketing": ("https://mkt.example.com.br", {}, "token"),
    "webhook": ("https://hooks.example.com.br/crmbus", {}, WEBHOOK_SECRET),
    "sms_twilio": ("https://api.twilio.com", {"account_sid": "AC1", "from": "+5511987654321"}, "auth-token"),
    "sms_zenvia": ("https://api.zenvia.com", {"from": "crmbus"}, "api-token"),
    "rest": (
        "https://api.example.com.br",
        {"auth": {"type": "bearer"}, "actions": {"open_ticket": {"method": "POST", "path": "/v1/tickets"}}},
        "token",
    ),
    "smtp": ("smtp://127.0.0.1:2525", {"sender": "a@example.com.br", "tls": "none", "username": "u"}, "pw"),
}


def builds(kind, url, config, secret):
    clients = HttpClients(OutboundPolicy(allow_loopback=True))
    try:
        connector_for(kind, url=url, config=config, secret=secret, client=clients)
    except PermanentDeliveryError:
        return False
    return True


def kind_of(name):
    return "email" if name == "smtp" else name


def test_every_destination_kind_has_a_complete_example():
    assert set(DESTINATIONS) <= set(COMPLETE)
    assert standard_webhooks.split_secrets(WEBHOOK_SECRET)


@pytest.mark.parametrize("name", sorted(COMPLETE))
def test_a_destination_with_everything_it_needs_lacks_nothing_and_builds(name):
    url, config, secret = COMPLETE[name]
    assert missing_credentials(kind_of(name), url, config, secret is not None) == ()
    assert builds(kind_of(name), url, config, secret)


@pytest.mark.parametrize("name", sorted(name for name, (_, _, secret) in COMPLETE.items() if secret is not None))
def test_a_destination_without_its_secret_is_named_as_lacking_it_and_does_not_build(name):
    url, config, _ = COMPLETE[name]
    assert "secret" in missing_credentials(kind_of(name), url, config, has_secret=False)
    assert not builds(kind_of(name), url, config, None)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("zapi", "instance_id"),
        ("zapi", "token"),
        ("sms_twilio", "account_sid"),
        ("sms_twilio", "from"),
        ("sms_zenvia", "from"),
        ("smtp", "sender"),
        ("rest", "actions"),
    ],
)
def test_a_destination_without_a_config_key_it_needs_is_named_as_lacking_it_and_does_not_build(name, key):
    url, config, secret = COMPLETE[name]
    without = {k: v for k, v in config.items() if k != key}
    assert missing_credentials(kind_of(name), url, without, has_secret=True) == (f"config.{key}",)
    assert not builds(kind_of(name), url, without, secret)


def test_an_smtp_relay_without_a_username_needs_no_secret():
    assert missing_credentials("email", "smtp://127.0.0.1:2525", {"sender": "a@example.com.br"}, False) == ()


def test_the_setup_command_names_the_tenant_the_destination_and_every_missing_item():
    command = setup_command("acme", "zapi", ("secret", "config.instance_id", "config.token"))
    assert command == (
        'printf %s "$SECRET" | crmbus destinations set --tenant acme --name zapi --url URL '
        '--config \'{"instance_id": "INSTANCE_ID", "token": "TOKEN"}\' --secret-stdin'
    )
    assert setup_command("acme", "email", ("config.sender",)) == (
        'crmbus destinations set --tenant acme --name email --url URL --config \'{"sender": "SENDER"}\''
    )


def test_what_is_missing_reads_as_a_sentence():
    assert describe_missing("crm", ("secret",)) == "a crm destination needs a secret"
    assert describe_missing("zapi", ("config.instance_id", "config.token")) == (
        "a zapi destination needs config.instance_id and config.token"
    )
