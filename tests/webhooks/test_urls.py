"""Which URLs may receive webhooks (pure): https to a public DNS name, no credentials, no
fragment; http only to loopback; each refusal says why, and the stated pattern agrees."""

from __future__ import annotations

import re

import pytest

from app.webhooks.urls import URL_PATTERN, address_allowed, check_url


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
