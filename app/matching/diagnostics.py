"""Why physicians were or were not eligible: the funnel of an intake and one physician's
constraints, from the same constraint definitions as matching."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import NotFound
from app.matching import constraints as mc


async def diagnose(
    session: AsyncSession, ctx: mc.MatchContext, states: Sequence[str]
) -> dict[str, Any]:
    """Which constraints eliminated how many physicians (a cumulative funnel)."""
    stmt, cs = mc.funnel_query(ctx, states)
    row = (await session.execute(stmt)).one()
    funnel, remaining = [], row.total
    for i, c in enumerate(cs):
        after = getattr(row, f"c{i}")
        funnel.append(
            {
                "constraint": c.name,
                "description": c.description,
                "eliminated": remaining - after,
                "remaining": after,
            }
        )
        remaining = after
    return {"states": list(states), "physicians": row.total, "funnel": funnel}


async def explain_physician(
    session: AsyncSession, ctx: mc.MatchContext, states: Sequence[str], physician_id: uuid.UUID
) -> list[dict[str, Any]]:
    stmt, cs = mc.explain_query(ctx, states, physician_id)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise NotFound("No such physician.")
    return [
        {"name": c.name, "description": c.description, "passed": bool(getattr(row, f"c{i}"))}
        for i, c in enumerate(cs)
    ]
