"""Reference data every environment needs, loaded idempotently at start-up and by `mdmatch seed`.

Each loader upserts from the versioned data files in the app and returns how many rows it wrote.

"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.service import load_services, load_state_rules
from app.pricing.service import load_default_price_book

Loader = Callable[[AsyncSession], Awaitable[int]]

REFERENCE_LOADERS: dict[str, Loader] = {
    "services": load_services,
    "state_rules": load_state_rules,
    "price_book": load_default_price_book,
}


async def seed_reference_data(session: AsyncSession) -> dict[str, int]:
    counts = {}
    for name, loader in REFERENCE_LOADERS.items():
        counts[name] = await loader(session)
    await session.commit()
    return counts
