"""Signatures of webhook deliveries: exactly Stripe's scheme, so receivers can reuse what they
know (and Stripe's libraries' logic).

    Mdmatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">[,v1=<...>]

The key is the endpoint's whole secret (`whsec_...`, as UTF-8 bytes). During a secret roll's
grace period the header carries one `v1` per secret, so a receiver holding either verifies.
A receiver checks that one `v1` matches and that `t` is recent (replayed requests are refused).
This module imports nothing of the app: receivers may copy it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class InvalidSignature(ValueError):
    """The header is missing or malformed, no signature matches, or the timestamp is stale."""


def new_secret() -> str:
    """A new signing secret: `whsec_` and 32 random bytes (url-safe base64)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of `<timestamp>.<payload>` keyed with `secret`."""
    message = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secrets_: Sequence[str], timestamp: int) -> str:
    """`t=<timestamp>,v1=<sig>[,v1=<sig>...]`, one signature per secret (current first)."""
    if not secrets_:
        raise ValueError("at least one secret signs")
    parts = [f"t={timestamp}"] + [f"{SCHEME}={sign(payload, s, timestamp)}" for s in secrets_]
    return ",".join(parts)


def parse_header(header: str) -> tuple[int, list[str]]:
    """The timestamp and the `v1` signatures of a header (other schemes are ignored)."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature("the timestamp (t=) is not a number") from None
        elif key == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise InvalidSignature("the header has no timestamp (t=)")
    if not signatures:
        raise InvalidSignature(f"the header has no {SCHEME} signature")
    return timestamp, signatures


def verify(
    payload: bytes,
    header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> bool:
    """True when one of the header's `v1` signatures is `payload`'s under `secret` and its
    timestamp is within `tolerance` seconds of now; raises InvalidSignature otherwise. Use the
    raw request body, byte for byte: a body parsed and serialised again will not match."""
    if not header:
        raise InvalidSignature("no Mdmatch-Signature header")
    timestamp, signatures = parse_header(header)
    expected = sign(payload, secret, timestamp)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise InvalidSignature("no signature matches this body and secret")
    current = time.time() if now is None else now
    if tolerance > 0 and abs(current - timestamp) > tolerance:
        raise InvalidSignature(f"the timestamp is more than {tolerance} seconds from now")
    return True
