"""A short-lived, per-process cache of reference data, so the busiest anonymous endpoint (instant
quotes: state rules as `StateContext`s, the current price book) does not load and validate the
same rows on every request.

The store knows nothing of what it holds: the reader names each entry by a key and says how to
load what is missing (`app.pricing.service` does, for instant quotes), so the catalog imports no
domain above it. Entries live `REFERENCE_CACHE_SECONDS` (10 s by default; 0 turns the cache off).
An edit of a state rule (here) or a price-book publication (`app.pricing.service`) clears this
process's cache at once; other processes see it within the TTL. Only instant quotes use the
cache: a submitted intake's persisted quote and its compliance check always read the database.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ReferenceCache:
    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[Any, float]] = {}

    def clear(self) -> None:
        self._entries.clear()

    async def one(self, key: Hashable, load: Callable[[], Awaitable[V]], *, ttl: float) -> V:
        """The entry under `key`, loaded when missing or older than `ttl` seconds (with `ttl`
        0, always loaded and not kept)."""
        now = time.monotonic()
        hit = self._entries.get(key)
        if ttl > 0 and hit is not None and now - hit[1] <= ttl:
            value: V = hit[0]
            return value
        value = await load()
        if ttl > 0:
            self._entries[key] = (value, now)
        return value

    async def many(
        self,
        keys: Sequence[K],
        load: Callable[[list[K]], Awaitable[Mapping[K, V]]],
        *,
        ttl: float,
    ) -> list[V]:
        """The entries under `keys`, in their order; `load` gets the keys missing or older than
        `ttl` seconds in one call and answers the ones it found (a key it does not answer is
        left out). With `ttl` 0 everything is loaded and nothing kept."""
        if ttl <= 0:
            loaded = await load(list(keys))
            return [loaded[k] for k in keys if k in loaded]
        now = time.monotonic()
        stale = [k for k in keys if (hit := self._entries.get(k)) is None or now - hit[1] > ttl]
        if stale:
            for key, value in (await load(stale)).items():
                self._entries[key] = (value, now)
        return [self._entries[k][0] for k in keys if k in self._entries]


reference_cache = ReferenceCache()
