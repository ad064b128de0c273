"""The outbound guard refuses every internal address range, v4 and v6, at URL check and at connect time."""

import asyncio
import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver

from connectors.ssrf import GuardedResolver, OutboundPolicy, refusal
from streams.errors import PermanentDeliveryError, UnsafeDestinationError

REFUSED = [
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("169.254.169.254", "link-local"),
    ("169.254.0.1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("0.0.0.0", "'this network'"),
    ("0.1.2.3", "'this network'"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "special-purpose"),  # documentation (TEST-NET-1)
    ("198.18.0.1", "special-purpose"),  # benchmarking
    ("::1", "loopback"),
    ("::", "'this network'"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fe80::1", "link-local"),
    ("ff02::1", "multicast"),
    ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:127.0.0.1", "loopback"),
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
    ("64:ff9b:1::a00:1", "reserved"),  # local-use NAT64
    ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
    ("2001:db8::1", "special-purpose"),  # documentation
    ("::a00:1", "special-purpose"),  # deprecated IPv4-compatible
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "100.128.0.1", "172.32.0.1", "192.169.0.1", "2606:4700:4700::1111",
          "64:ff9b::808:808", "::ffff:8.8.8.8", "2002:808:808::1"]  # fmt: skip


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_internal_and_special_addresses_are_refused_with_their_reason(address, reason):
    assert refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_including_nat64_and_mapped_forms_of_public_v4_are_allowed(address):
    assert refusal(ipaddress.ip_address(address)) is None


def test_the_stdlib_alone_would_let_multicast_nat64_and_6to4_of_private_v4_through():
    # Why refusal() does not just ask ipaddress: these are "global" to the stdlib (Python 3.11).
    for address in ("224.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1"):
        assert ipaddress.ip_address(address).is_global
        assert refusal(ipaddress.ip_address(address)) is not None


def test_unsafe_destination_is_a_permanent_delivery_error():
    assert issubclass(UnsafeDestinationError, PermanentDeliveryError)


# -- URLs -------------------------------------------------------------------------------------------


def test_a_public_https_url_is_allowed():
    assert str(OutboundPolicy().check_url("https://crm.example.com/api")) == "https://crm.example.com/api"


@pytest.mark.parametrize(
    "url",
    ["http://crm.example.com/", "ftp://crm.example.com/", "file:///etc/passwd", "gopher://crm.example.com/"],
)
def test_anything_but_https_is_refused(url):
    with pytest.raises(UnsafeDestinationError):
        OutboundPolicy(allow_loopback=True).check_url(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:18100/crm", "http://localhost:8080/", "http://[::1]:8080/"])
def test_plain_http_to_loopback_needs_allow_loopback(url):
    with pytest.raises(UnsafeDestinationError, match="https"):
        OutboundPolicy().check_url(url)
    assert OutboundPolicy(allow_loopback=True).check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:169.254.169.254]/",
        "https://[fd00::1]/",
        "https://[64:ff9b::a00:1]/",
        "https://127.0.0.1/",
    ],
)
def test_an_internal_ip_literal_is_refused_before_any_request(url):
    with pytest.raises(UnsafeDestinationError):
        OutboundPolicy().check_url(url)


@pytest.mark.parametrize("url", ["https://2130706433/", "https://127.1/", "https://0x7f.0.0.1/", "https://10.1/"])
def test_legacy_numeric_ipv4_forms_are_refused(url):
    with pytest.raises(UnsafeDestinationError, match="canonical"):
        OutboundPolicy(allow_loopback=True).check_url(url)


@pytest.mark.parametrize("url", ["not a url", "/relative/path", "https://user:pass@crm.example.com/"])
def test_relative_unparsable_or_credential_carrying_urls_are_refused(url):
    with pytest.raises(UnsafeDestinationError):
        OutboundPolicy().check_url(url)


def test_an_allow_listed_cidr_opens_internal_addresses_but_not_plain_http():
    policy = OutboundPolicy.from_allow_list(["10.20.0.0/16", "fd00::/64"])

    assert policy.check_url("https://10.20.1.2/")
    assert policy.check_url("https://[fd00::5]/")
    with pytest.raises(UnsafeDestinationError):
        policy.check_url("https://10.21.0.1/")
    with pytest.raises(UnsafeDestinationError, match="https"):
        policy.check_url("http://10.20.1.2/")


# -- at connect time ------------------------------------------------------------------------------


class StubResolver(AbstractResolver):
    """Answers every name with fixed addresses, as a rebinding DNS server would."""

    def __init__(self, *addresses):
        self.addresses = addresses
        self.closed = False

    async def resolve(self, host, port=0, family=socket.AF_INET):
        return [
            {"hostname": host, "host": address, "port": port, "family": family, "proto": 0, "flags": 0}
            for address in self.addresses
        ]

    async def close(self):
        self.closed = True


def resolve(policy, host, *addresses):
    return asyncio.run(GuardedResolver(StubResolver(*addresses), policy).resolve(host, 443))


@pytest.mark.parametrize("address", ["169.254.169.254", "10.0.0.1", "fd00::1", "::ffff:192.168.0.1", "127.0.0.1"])
def test_a_name_resolving_to_an_internal_address_is_refused_at_connect_time(address):
    with pytest.raises(UnsafeDestinationError) as raised:
        resolve(OutboundPolicy(), "crm.example.com", address)
    assert "crm.example.com" in str(raised.value)


def test_a_name_mixing_public_and_internal_addresses_is_refused_whole():
    with pytest.raises(UnsafeDestinationError, match="private"):
        resolve(OutboundPolicy(), "crm.example.com", "8.8.8.8", "10.0.0.1")


def test_public_addresses_pass_through_the_resolver_unchanged():
    results = resolve(OutboundPolicy(), "crm.example.com", "8.8.8.8", "2606:4700:4700::1111")

    assert [r["host"] for r in results] == ["8.8.8.8", "2606:4700:4700::1111"]


def test_loopback_resolves_only_with_allow_loopback():
    assert resolve(OutboundPolicy(allow_loopback=True), "localhost", "127.0.0.1", "::1")
    with pytest.raises(UnsafeDestinationError):
        resolve(OutboundPolicy(allow_loopback=True), "localhost", "10.0.0.1")


def test_an_allow_listed_host_name_may_resolve_to_internal_addresses():
    policy = OutboundPolicy.from_allow_list(["CRM.internal."])

    assert resolve(policy, "crm.internal", "10.0.0.7")
    with pytest.raises(UnsafeDestinationError):
        resolve(policy, "other.internal", "10.0.0.7")


def test_closing_the_guard_closes_the_resolver_it_wraps():
    inner = StubResolver("8.8.8.8")

    asyncio.run(GuardedResolver(inner, OutboundPolicy()).close())

    assert inner.closed
