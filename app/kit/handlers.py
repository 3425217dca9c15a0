"""Named in-process handlers: a domain asks, by name, for work that a domain above it does, in
the caller's own transaction, without importing it.

This is for the few hand-offs that must commit atomically with the change that causes them,
where a queued job would leave a window (a physician suspended but still directing a clinic
until a worker runs). The higher domain registers its handler when its module is imported
(every process imports all domains: the API through its routers, the worker through the job
modules); calling a name nobody registered fails loudly instead of doing nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Handler = Callable[..., Awaitable[Any]]

_handlers: dict[str, Handler] = {}


class NoHandler(LookupError):
    pass


def register(name: str, handler: Handler) -> None:
    existing = _handlers.get(name)
    if existing is not None and existing is not handler:
        raise ValueError(f"{name!r} is already handled by {existing.__qualname__}")
    _handlers[name] = handler


def registered(name: str) -> bool:
    return name in _handlers


async def call(name: str, /, *args: Any, **kwargs: Any) -> Any:
    handler = _handlers.get(name)
    if handler is None:
        raise NoHandler(f"nothing handles {name!r}: the domain that does is not imported")
    return await handler(*args, **kwargs)
