"""The app's clock. Everything that compares with "now" asks here, so tests can move time
(offer expiry, token lifetimes, sweepers) without sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

_offset = timedelta(0)


def utcnow() -> datetime:
    return datetime.now(UTC) + _offset


def today() -> date:
    return utcnow().date()


@contextmanager
def travel(delta: timedelta) -> Iterator[None]:
    """Shift the app's clock by `delta` inside the block (tests and simulations only)."""
    global _offset
    previous = _offset
    _offset = previous + delta
    try:
        yield
    finally:
        _offset = previous
