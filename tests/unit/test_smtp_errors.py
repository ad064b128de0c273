"""How SMTP failures become delivery outcomes: 4xx and broken connections are retried, 5xx are not,
and no message repeats what the server said about the recipient."""

import socket
import ssl

import aiosmtplib
import pytest

from connectors.smtp_errors import delivery_error
from streams.errors import PermanentDeliveryError, TransientDeliveryError, UnsafeDestinationError

LABEL = "email (smtp)"
ADDRESS = "maria.souza@example.com.br"


@pytest.mark.parametrize(
    ("error", "step"),
    [
        (aiosmtplib.SMTPConnectResponseError(421, "4.3.2 Service not available"), "connect"),
        (aiosmtplib.SMTPSenderRefused(451, "4.3.0 Local error", "a@b.com"), "mail"),
        (aiosmtplib.SMTPRecipientRefused(450, f"4.2.1 <{ADDRESS}>: mailbox busy", ADDRESS), "rcpt"),
        (aiosmtplib.SMTPRecipientRefused(452, "4.2.2 Mailbox full", ADDRESS), "rcpt"),
        (aiosmtplib.SMTPAuthenticationError(454, "4.7.0 Temporary authentication failure"), "login"),
        (aiosmtplib.SMTPDataError(451, "4.7.1 Try again later"), "data"),
    ],
)
def test_a_4xx_reply_is_transient_and_carries_its_code(error, step):
    outcome = delivery_error(error, step, LABEL)

    assert type(outcome) is TransientDeliveryError
    assert outcome.status == error.code
    assert str(error.code) in str(outcome)


@pytest.mark.parametrize(
    ("error", "step"),
    [
        (aiosmtplib.SMTPConnectResponseError(554, "5.7.1 No SMTP service here"), "connect"),
        (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Authentication credentials invalid"), "login"),
        (aiosmtplib.SMTPSenderRefused(530, "5.7.0 Must issue a STARTTLS command first", "a@b.com"), "mail"),
        (aiosmtplib.SMTPRecipientRefused(550, f"5.1.1 <{ADDRESS}>: Recipient address rejected", ADDRESS), "rcpt"),
        (aiosmtplib.SMTPDataError(552, "5.3.4 Message size exceeds fixed limit"), "data"),
    ],
)
def test_a_5xx_reply_is_permanent_and_carries_its_code(error, step):
    outcome = delivery_error(error, step, LABEL)

    assert type(outcome) is PermanentDeliveryError
    assert outcome.status == error.code


def test_the_message_names_the_step_and_enhanced_code_but_never_the_servers_text():
    error = aiosmtplib.SMTPRecipientRefused(550, f"5.1.1 <{ADDRESS}>: Recipient address rejected", ADDRESS)

    outcome = delivery_error(error, "rcpt", LABEL)

    assert str(outcome) == "email (smtp): the server answered 550 5.1.1 to the recipient (RCPT TO)"
    assert "maria" not in str(outcome) and "rejected" not in str(outcome)


@pytest.mark.parametrize(
    ("error", "step", "says"),
    [
        (aiosmtplib.SMTPConnectTimeoutError("Timed out connecting to smtp.example.com"), "connect", "timed out"),
        (aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"), "data", "timed out"),
        (TimeoutError(), "connect", "timed out while connecting"),
        (ConnectionRefusedError(111, "Connection refused"), "connect", "refused, reset or closed while connecting"),
        (aiosmtplib.SMTPServerDisconnected("Connection lost"), "rcpt", "closed at the recipient"),
        (ConnectionResetError(104, "reset"), "data", "refused, reset or closed"),
        (socket.gaierror(-2, "Name or service not known"), "connect", "did not resolve"),
        (ssl.SSLCertVerificationError(1, "certificate verify failed"), "starttls", "TLS handshake failed"),
        (aiosmtplib.SMTPResponseException(-1, "Malformed SMTP response line"), "mail", "unexpected reply"),
    ],
)
def test_timeouts_broken_connections_and_failed_handshakes_are_transient(error, step, says):
    outcome = delivery_error(error, step, LABEL)

    assert type(outcome) is TransientDeliveryError
    assert outcome.status is None
    assert says in str(outcome)
    assert "example.com" not in str(outcome)


@pytest.mark.parametrize(
    ("error", "step", "says"),
    [
        (aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server."), "starttls", "STARTTLS"),
        (aiosmtplib.SMTPException("The SMTP AUTH extension is not supported by this server."), "login", "AUTH"),
    ],
)
def test_a_server_lacking_what_the_destination_requires_is_permanent(error, step, says):
    outcome = delivery_error(error, step, LABEL)

    assert type(outcome) is PermanentDeliveryError
    assert says in str(outcome)


def test_a_delivery_error_passes_through_unchanged():
    refused = UnsafeDestinationError("smtp.example.com resolves to a private address (10.0.0.5)")

    assert delivery_error(refused, "connect", LABEL) is refused
