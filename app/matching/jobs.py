from __future__ import annotations

import structlog

from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.matching import stats, sweeper

log = structlog.get_logger(__name__)


@queue.periodic(cron="* * * * *", periodic_id="offer-sweeper")
@queue.task(name="matching.sweep_offers", queueing_lock="offer-sweeper", lock="offer-sweeper")
async def sweep_offers(timestamp: int) -> dict[str, int]:
    """Every minute: expire overdue offers, lapse unconfirmed acceptances, move cascades on."""
    runtime = get_runtime()
    result = await sweeper.expire_overdue(runtime.sessionmaker, runtime.settings)
    if any(result.values()):
        log.info("offers_swept", **result)
    return result


@queue.periodic(cron="*/10 * * * *", periodic_id="response-stats")
@queue.task(name="matching.refresh_response_stats", queueing_lock="response-stats")
async def refresh_response_stats(timestamp: int) -> int:
    """Every ten minutes: recount each physician's offers by outcome (a ranking factor)."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        changed = await stats.refresh_response_stats(session)
        await session.commit()
    return changed
