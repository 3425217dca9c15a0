"""Reference data every environment needs, loaded idempotently at start-up and by `mdmatch seed`.

Each loader upserts from the versioned data files in the app and returns how many rows it wrote.
The service catalog and the state rules register here with [2/8]; the price book with [3/8].
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

Loader = Callable[[AsyncSession], Awaitable[int]]

REFERENCE_LOADERS: dict[str, Loader] = {}


async def seed_reference_data(session: AsyncSession) -> dict[str, int]:
    counts = {}
    for name, loader in REFERENCE_LOADERS.items():
        counts[name] = await loader(session)
    await session.commit()
    return counts
