"""Signatures are Stripe's scheme: verified with the secret over the raw body, refused with a
wrong secret, a changed body or a stale timestamp; during a roll both secrets verify (pure)."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from app.webhooks.signing import (
    InvalidSignature,
    new_secret,
    parse_header,
    sign,
    signature_header,
    verify,
)

BODY = b'{"id":"evt","type":"engagement.activated"}'


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_like_stripe():
    secret = "whsec_test"
    expected = hmac.new(secret.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, secret, 1700000000) == expected
    assert signature_header(BODY, [secret], 1700000000) == f"t=1700000000,v1={expected}"


def test_a_signature_verifies_with_its_secret_and_fails_with_another():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    header = signature_header(BODY, [secret], int(time.time()))
    assert verify(BODY, header, secret) is True
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify(BODY, header, new_secret())
    with pytest.raises(InvalidSignature, match="no signature matches"):
        verify(BODY + b" ", header, secret)


def test_a_stale_or_future_timestamp_is_refused():
    secret = new_secret()
    now = 1_800_000_000
    old = signature_header(BODY, [secret], now - 301)
    with pytest.raises(InvalidSignature, match="300 seconds"):
        verify(BODY, old, secret, tolerance=300, now=now)
    assert verify(BODY, old, secret, tolerance=600, now=now)
    future = signature_header(BODY, [secret], now + 301)
    with pytest.raises(InvalidSignature):
        verify(BODY, future, secret, tolerance=300, now=now)


def test_during_a_roll_the_header_carries_both_signatures_and_each_verifies():
    new, old = new_secret(), new_secret()
    header = signature_header(BODY, [new, old], int(time.time()))
    timestamp, signatures = parse_header(header)
    assert len(signatures) == 2
    assert signatures == [sign(BODY, new, timestamp), sign(BODY, old, timestamp)]
    assert verify(BODY, header, new)
    assert verify(BODY, header, old)
    with pytest.raises(InvalidSignature):
        verify(BODY, header, new_secret())


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "no Mdmatch-Signature"),
        ("", "no Mdmatch-Signature"),
        ("v1=abc", "no timestamp"),
        ("t=abc,v1=abc", "not a number"),
        ("t=1700000000", "no v1"),
        ("t=1700000000,v0=abc", "no v1"),
    ],
)
def test_malformed_headers_are_refused(header, message):
    with pytest.raises(InvalidSignature, match=message):
        verify(BODY, header, "whsec_x")
