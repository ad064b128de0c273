"""The SMTP e-mail connector against a real SMTP server on loopback (aiosmtpd): TLS and AUTH as
configured, connections kept and bounded, and every way a server can answer, or fail to, becoming
the right delivery outcome."""

import asyncio
import ipaddress

import pytest

import connectors.smtp
from connectors.destinations import HttpClients, connector_for
from connectors.smtp import IDLE_S, SmtpPool, SmtpPools, SmtpServer
from connectors.ssrf import OutboundPolicy
from streams.errors import PermanentDeliveryError, TransientDeliveryError, UnsafeDestinationError
from tests.conftest import free_port
from tests.fakes.smtp_server import FakeSmtp, serving
from tests.fakes.tls import LoopbackTls

LOOPBACK = OutboundPolicy(allow_loopback=True)
WELCOME = {"to": "maria@example.com.br", "template": "boas_vindas", "variables": {"name": "Maria"}}
SENDER = "atendimento@clinica.com.br"
CREDENTIALS = ("apikey", "s3nh4-secreta")


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return LoopbackTls.make(tmp_path_factory.mktemp("tls"))


def delivery_id(n=0):
    return f"5f0c8a1e-8d4b-5b7a-9c3e-{n:012d}"


def clients(tls=None, resolve=None, policy=LOOPBACK):
    options = {}
    if tls is not None:
        options["tls_context"] = tls.client_context
    if resolve is not None:
        options["resolve"] = resolve
    return HttpClients(policy, smtp=SmtpPools(policy, **options))


async def send(client, url, config, secret=None, payloads=(WELCOME,)):
    """Deliver each payload in turn; returns each Delivered or the error it raised."""
    connector = connector_for("email", url=url, config={"sender": SENDER, **config}, secret=secret, client=client)
    outcomes = []
    for n, payload in enumerate(payloads):
        try:
            outcomes.append(await connector.deliver(delivery_id(n), "email.send_template", payload))
        except (TransientDeliveryError, PermanentDeliveryError) as error:
            outcomes.append(error)
    return outcomes


def run(scenario):
    return asyncio.run(scenario())


# -- sending ---------------------------------------------------------------------------------------


def test_starttls_with_login_delivers_the_welcome_e_mail_and_keeps_the_servers_queue_id(tls):
    fake = FakeSmtp()

    async def scenario():
        async with serving(fake, "starttls", tls=tls, credentials=CREDENTIALS) as port, clients(tls) as client:
            return await send(client, f"smtp://localhost:{port}", {"username": "apikey"}, secret=CREDENTIALS[1])

    [delivered] = run(scenario)

    assert delivered.status == 250 and delivered.response_excerpt == "250 2.0.0 Ok: queued as Q1"
    assert delivered.latency_ms > 0
    [mail] = fake.received
    assert (mail.sender, mail.recipients) == (SENDER, ["maria@example.com.br"])
    assert mail.message["Subject"] == "Boas-vindas, Maria! Seu cadastro está concluído"
    assert mail.message["Message-ID"] == f"<{delivery_id(0)}@clinica.com.br>"


def test_tls_from_the_first_byte_delivers(tls):
    fake = FakeSmtp()

    async def scenario():
        async with serving(fake, "implicit", tls=tls, credentials=CREDENTIALS) as port, clients(tls) as client:
            return await send(client, f"smtps://127.0.0.1:{port}", {"username": "apikey"}, secret=CREDENTIALS[1])

    [delivered] = run(scenario)

    assert delivered.status == 250 and len(fake.received) == 1


def test_plain_smtp_to_loopback_delivers_when_loopback_is_allowed():
    fake = FakeSmtp()

    async def scenario():
        async with serving(fake) as port, clients() as client:
            return await send(client, f"smtp://127.0.0.1:{port}", {"tls": "none"})

    [delivered] = run(scenario)

    assert delivered.status == 250 and len(fake.received) == 1


def test_consecutive_deliveries_share_one_kept_connection():
    fake = FakeSmtp()
    payloads = [WELCOME] * 5

    async def scenario():
        async with serving(fake) as port, clients() as client:
            return await send(client, f"smtp://127.0.0.1:{port}", {"tls": "none"}, payloads=payloads)

    outcomes = run(scenario)

    assert [o.status for o in outcomes] == [250] * 5
    assert fake.connections == 1


def test_concurrent_deliveries_open_no_more_connections_than_max_connections():
    fake = FakeSmtp()

    async def scenario():
        async with serving(fake) as port, clients() as client:
            config = {"sender": SENDER, "tls": "none", "max_connections": 2}
            connector = connector_for(
                "email", url=f"smtp://127.0.0.1:{port}", config=config, secret=None, client=client
            )
            sends = [connector.deliver(delivery_id(n), "email.send_template", WELCOME) for n in range(20)]
            return await asyncio.gather(*sends)

    outcomes = run(scenario)

    assert len(outcomes) == len(fake.received) == 20
    assert 1 <= fake.connections <= 2


def test_a_kept_connection_the_server_dropped_is_replaced_and_the_message_sent_once():
    fake = FakeSmtp()

    async def scenario():
        async with serving(fake) as port, clients() as client:
            config = {"sender": SENDER, "tls": "none"}
            connector = connector_for(
                "email", url=f"smtp://127.0.0.1:{port}", config=config, secret=None, client=client
            )
            first = await connector.deliver(delivery_id(0), "email.send_template", WELCOME)
            fake.drop_connections()
            second = await connector.deliver(delivery_id(1), "email.send_template", WELCOME)
            return first, second

    first, second = run(scenario)

    assert first.status == second.status == 250
    assert [m.message["Message-ID"] for m in fake.received] == [f"<{delivery_id(n)}@clinica.com.br>" for n in (0, 1)]
    assert fake.connections == 2


def pool_to(port, clock=lambda: 0.0):
    server = SmtpServer.from_destination(
        f"smtp://127.0.0.1:{port}", {"tls": "none"}, None, LOOPBACK, helo="clinica.com.br"
    )
    return SmtpPool(server, LOOPBACK, clock=clock)


async def send_raw(pool, times):
    for _ in range(times):
        await pool.send(SENDER, "maria@example.com.br", b"Subject: Oi\r\n\r\nOi.\r\n", label="email (smtp)")


def test_a_connection_idle_for_idle_s_is_not_reused():
    fake = FakeSmtp()
    now = [0.0]

    async def scenario():
        async with serving(fake) as port:
            pool = pool_to(port, clock=lambda: now[0])
            await send_raw(pool, 2)
            now[0] += IDLE_S
            await send_raw(pool, 1)
            await pool.close()

    run(scenario)

    assert len(fake.received) == 3 and fake.connections == 2


def test_a_connection_is_replaced_after_messages_per_connection_messages(monkeypatch):
    monkeypatch.setattr(connectors.smtp, "MESSAGES_PER_CONNECTION", 2)
    fake = FakeSmtp()

    async def scenario():
        async with serving(fake) as port:
            pool = pool_to(port)
            await send_raw(pool, 5)
            await pool.close()

    run(scenario)

    assert len(fake.received) == 5 and fake.connections == 3


# -- replies ---------------------------------------------------------------------------------------


def test_a_4xx_reply_is_transient_with_its_code_and_the_next_delivery_goes_through():
    fake = FakeSmtp()
    fake.refuse("rcpt", "451 4.7.1 Greylisted, try again later", times=1)

    async def scenario():
        async with serving(fake) as port, clients() as client:
            return await send(client, f"smtp://127.0.0.1:{port}", {"tls": "none"}, payloads=[WELCOME, WELCOME])

    refused, delivered = run(scenario)

    assert type(refused) is TransientDeliveryError and refused.status == 451
    assert delivered.status == 250 and len(fake.received) == 1


@pytest.mark.parametrize(
    ("step", "reply"),
    [("rcpt", "550 5.1.1 <maria@example.com.br>: no such user"), ("data", "554 5.7.1 Message refused")],
)
def test_a_5xx_reply_is_permanent_with_its_code_and_no_address_in_the_error(step, reply):
    fake = FakeSmtp()
    fake.refuse(step, reply)

    async def scenario():
        async with serving(fake) as port, clients() as client:
            return await send(client, f"smtp://127.0.0.1:{port}", {"tls": "none"})

    [refused] = run(scenario)

    assert type(refused) is PermanentDeliveryError and refused.status == int(reply[:3])
    assert "maria" not in str(refused) and "refused" not in str(refused).split(":", 1)[1]
    assert fake.received == []


def test_a_wrong_password_is_permanent(tls):
    fake = FakeSmtp()

    async def scenario():
        async with serving(fake, "starttls", tls=tls, credentials=CREDENTIALS) as port, clients(tls) as client:
            return await send(client, f"smtp://localhost:{port}", {"username": "apikey"}, secret="errada")

    [refused] = run(scenario)

    assert type(refused) is PermanentDeliveryError and refused.status == 535
    assert "errada" not in str(refused)
    assert fake.received == []


def test_a_server_without_starttls_gets_nothing_in_clear():
    fake = FakeSmtp()

    async def scenario():
        async with serving(fake) as port, clients() as client:
            return await send(client, f"smtp://127.0.0.1:{port}", {})

    [refused] = run(scenario)

    assert type(refused) is PermanentDeliveryError and "STARTTLS" in str(refused)
    assert fake.received == [] and fake.replies == []


def test_a_certificate_no_trusted_authority_signed_fails_the_handshake_and_is_transient(tls):
    fake = FakeSmtp()

    async def scenario():
        async with serving(fake, "starttls", tls=tls) as port, clients() as client:  # the system's CAs
            return await send(client, f"smtp://localhost:{port}", {})

    [refused] = run(scenario)

    assert type(refused) is TransientDeliveryError and "TLS handshake" in str(refused)
    assert fake.received == []


def test_a_server_slower_than_the_read_timeout_is_transient():
    fake = FakeSmtp()
    fake.hang("data")

    async def scenario():
        async with serving(fake) as port, clients() as client:
            config = {"tls": "none", "timeouts": {"read": 0.3, "total": 5}}
            return await send(client, f"smtp://127.0.0.1:{port}", config)

    [refused] = run(scenario)

    # The server may still take the message it was slow to answer: the redelivery then arrives
    # as a second copy with the same Message-ID, which is what makes it recognisable.
    assert type(refused) is TransientDeliveryError and "timed out at the message (DATA)" in str(refused)


def test_a_refused_connection_is_transient():
    async def scenario():
        async with clients() as client:
            return await send(client, f"smtp://127.0.0.1:{free_port()}", {"tls": "none"})

    [refused] = run(scenario)

    assert type(refused) is TransientDeliveryError and "refused" in str(refused)


# -- the outbound guard ----------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["10.0.0.5", "169.254.169.254", "127.0.0.1"])
def test_a_public_name_resolving_to_an_internal_address_is_refused_before_connecting(address):
    asked = []

    async def resolve(host, port):
        asked.append(host)
        return [ipaddress.ip_address(address)]

    async def scenario():
        async with clients(resolve=resolve, policy=OutboundPolicy()) as client:
            return await send(client, "smtp://smtp.example.com", {})

    [refused] = run(scenario)

    assert isinstance(refused, UnsafeDestinationError) and address in str(refused)
    assert asked == ["smtp.example.com"]


def test_localhost_rebound_to_a_public_address_gets_no_message_in_clear():
    async def resolve(host, port):
        return [ipaddress.ip_address("93.184.216.34")]

    async def scenario():
        async with clients(resolve=resolve) as client:
            return await send(client, "smtp://localhost:2525", {"tls": "none"})

    [refused] = run(scenario)

    assert isinstance(refused, UnsafeDestinationError) and "without TLS" in str(refused)
