"""Rate limits on the `limits` library: in-process memory by default, Redis when `REDIS_URL` is
set (so several server processes share one budget). Exceeding a limit is a 429 problem with
`Retry-After`."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import cast

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from app.config import Settings
from app.errors import RateLimited


class RateLimiter:
    def __init__(self, storage_uri: str) -> None:
        self.storage_uri = storage_uri
        self.storage = cast(AsyncStorage, storage_from_string(storage_uri))
        # Sliding-window counters: O(1) per hit and per key (a moving window keeps one entry per
        # hit, which costs O(limit) work per request at high limits), within a few percent of
        # the moving window at the boundary.
        self.strategy = SlidingWindowCounterRateLimiter(self.storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        if settings.redis_url:
            return cls("async+" + settings.redis_url)
        return cls("async+memory://")

    async def check(self, item: RateLimitItem, *identifiers: str) -> None:
        if await self.strategy.hit(item, *identifiers):
            return
        stats = await self.strategy.get_window_stats(item, *identifiers)
        raise RateLimited(math.ceil(stats.reset_time - time.time()))

    async def reset(self) -> None:
        await self.storage.reset()


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def limit_key(request: Request, scope: str, setting: str, key: str) -> None:
    """Charge one hit to `key` (an account, an e-mail) under the limit named by `setting`.

    Per-address limits alone let one attacker spread over many addresses (credential stuffing,
    flooding one inbox with reset e-mails); this bounds the work aimed at a single account.
    """
    settings: Settings = request.app.state.settings
    limiter: RateLimiter = request.app.state.rate_limiter
    await limiter.check(parse(getattr(settings, setting)), scope, key)


def rate_limit(scope: str, setting: str) -> Callable[[Request], Awaitable[None]]:
    """A route dependency limiting callers by address; the limit string comes from Settings
    (`setting` names the field, e.g. "rate_limit_login" = "10/minute")."""

    async def dependency(request: Request) -> None:
        settings: Settings = request.app.state.settings
        limiter: RateLimiter = request.app.state.rate_limiter
        await limiter.check(parse(getattr(settings, setting)), scope, client_address(request))

    return dependency
