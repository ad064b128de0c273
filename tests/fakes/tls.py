"""A throwaway certificate authority, a server certificate for loopback and a client certificate
(for mutual TLS), made per test run.

The server context serves the certificate; the client context trusts only this authority and
checks host names as the real client does, so a TLS test proves verification, not its absence.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _issue(
    ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, common_name: str, names: list[x509.GeneralName]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


@dataclass(frozen=True)
class LoopbackTls:
    ca_pem: bytes
    cert_file: Path
    key_file: Path
    ca_file: Path
    client_cert_file: Path
    client_key_file: Path

    @property
    def server_keystore_file(self) -> Path:
        """The server's key and certificate in one PEM file (a Kafka ``ssl.keystore.type=PEM`` keystore)."""
        return self.cert_file.with_name("server-keystore.pem")

    @classmethod
    def make(cls, directory: Path) -> LoopbackTls:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            x509.CertificateBuilder()
            .subject_name(_name("crmbus test CA"))
            .issuer_name(_name("crmbus test CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        names: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        leaf, key = _issue(ca, ca_key, "localhost", names)
        client, client_key = _issue(ca, ca_key, "crmbus test client", [])
        cert_file, key_file = directory / "server.pem", directory / "server.key"
        cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(_pem_key(key))
        ca_pem = ca.public_bytes(serialization.Encoding.PEM)
        ca_file = directory / "ca.pem"
        ca_file.write_bytes(ca_pem)
        client_cert_file, client_key_file = directory / "client.pem", directory / "client.key"
        client_cert_file.write_bytes(client.public_bytes(serialization.Encoding.PEM))
        client_key_file.write_bytes(_pem_key(client_key))
        made = cls(ca_pem, cert_file, key_file, ca_file, client_cert_file, client_key_file)
        made.server_keystore_file.write_bytes(_pem_key(key) + leaf.public_bytes(serialization.Encoding.PEM))
        return made

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Like ``connectors.smtp.default_tls_context``, trusting this authority instead of the system's."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=self.ca_pem.decode())
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context
