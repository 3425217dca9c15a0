"""Which URLs may receive webhooks (pure): https to a public DNS name, no credentials, no
fragment; http only to loopback; each refusal says why, and the stated pattern agrees."""

from __future__ import annotations

import ipaddress
import re

import pytest

from app.webhooks.urls import URL_PATTERN, address_allowed, check_url, embedded_ipv4


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/mdmatch",
        "https://hooks.example.com",
        "https://api.partner.io:8443/v1/events?source=mdmatch&token=abc%20def",
        "https://a-b.c0.example/x/y/",
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://[::1]:9000/",
    ],
)
def test_acceptable_urls(url):
    assert check_url(url) == url
    assert re.fullmatch(URL_PATTERN, url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/", "https://"),
        ("hooks.example.com/x", "https://"),
        ("http://hooks.example.com/", "must use https"),
        ("http://10.0.0.7/", "must use https"),
        ("https://user:pass@hooks.example.com/", "credentials"),
        ("https://token@hooks.example.com/", "credentials"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https://203.0.113.9/hooks", "not an IP address"),
        ("https://[2001:db8::1]/hooks", "not an IP address"),
        ("https://169.254.169.254/latest/meta-data", "not an IP address"),
        ("https://localhost/hooks", "public host"),
        ("https://intranet/hooks", "public host"),
        ("https://hooks.example.com/a b", "absolute URL"),
        ("https://hooks.example.com/é", "absolute URL"),
        ("https://hooks.example.com:99999/", "absolute URL"),
        ("https://hooks.example.com:0/", "absolute URL"),
        ("https://-bad.example.com/", "absolute URL"),
        ("https://[::1/", "not a URL"),
        ("HTTPS://hooks.example.com/", "absolute URL"),
    ],
)
def test_refused_urls_say_why(url, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_url(url)
    assert not re.fullmatch(URL_PATTERN, url)


@pytest.mark.parametrize(
    ("address", "loopback", "allowed"),
    [
        ("93.184.216.34", False, True),
        ("2606:2800:220:1:248:1893:25c8:1946", False, True),
        ("127.0.0.1", False, False),
        ("127.0.0.1", True, True),
        ("::1", True, True),
        ("10.1.2.3", True, False),
        ("192.168.1.1", False, False),
        ("172.16.0.1", False, False),
        ("169.254.169.254", False, False),
        ("100.64.0.1", False, False),
        ("::ffff:10.0.0.1", False, False),
        ("fd00::1", False, False),
        ("224.0.0.1", False, False),
        ("0.0.0.0", True, False),  # noqa: S104 (an address checked, not bound)
        ("not-an-address", True, False),
    ],
)
def test_resolved_addresses_must_be_public(address, loopback, allowed):
    assert address_allowed(address, allow_loopback=loopback) is allowed


@pytest.mark.parametrize(
    ("address", "embedded"),
    [
        # 6to4 (2002::/16): the IPv4 address in bits 16-48.
        ("2002:7f00:1::1", "127.0.0.1"),
        ("2002:a00:1::1", "10.0.0.1"),
        ("2002:a9fe:a9fe::1", "169.254.169.254"),
        ("2002:c0a8:101::", "192.168.1.1"),
        # NAT64's well-known prefix (64:ff9b::/96): the last 32 bits.
        ("64:ff9b::7f00:1", "127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("64:ff9b::ac10:1", "172.16.0.1"),
        # IPv4-mapped (::ffff:0:0/96) and IPv4-translated (::ffff:0:0:0/96).
        ("::ffff:169.254.169.254", "169.254.169.254"),
        ("::ffff:0:a00:1", "10.0.0.1"),
        ("::ffff:0:7f00:1", "127.0.0.1"),
        # Teredo (2001::/32): a private server, or a client of a documentation network.
        ("2001:0:a00:1::1", "10.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45"),
    ],
)
def test_ipv6_addresses_carrying_a_non_public_ipv4_are_refused(address, embedded):
    ip = ipaddress.IPv6Address(address)
    assert ipaddress.IPv4Address(embedded) in embedded_ipv4(ip)
    assert not address_allowed(address, allow_loopback=False)
    # Loopback allowed (tests, local runs) lets through only a plain or IPv4-mapped loopback.
    if not address.startswith("::ffff:7f"):
        assert not address_allowed(address, allow_loopback=True)


@pytest.mark.parametrize(
    "address",
    [
        "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
        "::ffff:93.184.216.34",
    ],
)
def test_ipv6_addresses_carrying_a_public_ipv4_are_allowed(address):
    assert embedded_ipv4(ipaddress.IPv6Address(address)) == [ipaddress.IPv4Address("93.184.216.34")]
    assert address_allowed(address, allow_loopback=False)


@pytest.mark.parametrize(
    "address",
    [
        "::7f00:1",  # IPv4-compatible ::127.0.0.1 (deprecated)
        "::5db8:d822",  # IPv4-compatible, even of a public address
        "::",
        "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215)
        "fe80::1%eth0",
        "ff0e::1",
    ],
)
def test_other_non_public_ipv6_addresses_are_refused(address):
    assert not address_allowed(address, allow_loopback=True)
