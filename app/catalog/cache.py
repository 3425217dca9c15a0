"""A short-lived, per-process cache of the reference data an instant quote reads (state rules
as `StateContext`s, the current price book), so the busiest anonymous endpoint does not load
and validate the same rows on every request.

Entries live `REFERENCE_CACHE_SECONDS` (10 s by default; 0 turns the cache off). An edit of a
state rule or a price-book publication clears this process's cache at once; other processes
see it within the TTL. Only instant quotes use the cache: a submitted intake's persisted quote
and its compliance check always read the database.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.clinics.compliance import StateContext
from app.pricing.price_book import PriceBook


class ReferenceCache:
    def __init__(self) -> None:
        self._states: dict[tuple[str, int], tuple[StateContext, float]] = {}
        self._book: tuple[PriceBook, float] | None = None

    def clear(self) -> None:
        self._states.clear()
        self._book = None

    async def state_contexts(
        self, session: AsyncSession, codes: Sequence[str], *, default_cap: int, ttl: float
    ) -> list[StateContext]:
        from app.clinics.service import state_contexts

        wanted = sorted(set(codes))
        if ttl <= 0:
            return await state_contexts(session, wanted, default_cap=default_cap)
        now = time.monotonic()
        stale = [
            c
            for c in wanted
            if (hit := self._states.get((c, default_cap))) is None or now - hit[1] > ttl
        ]
        if stale:
            for ctx in await state_contexts(session, stale, default_cap=default_cap):
                self._states[(ctx.code, default_cap)] = (ctx, now)
        return [
            self._states[(c, default_cap)][0] for c in wanted if (c, default_cap) in self._states
        ]

    async def price_book(self, session: AsyncSession, *, ttl: float) -> PriceBook:
        from app.pricing.service import current_price_book

        now = time.monotonic()
        if ttl > 0 and self._book is not None and now - self._book[1] <= ttl:
            return self._book[0]
        book = await current_price_book(session)
        if ttl > 0:
            self._book = (book, now)
        return book


reference_cache = ReferenceCache()
