from __future__ import annotations

import uuid

import structlog

from app.engagements import handoffs as handoffs  # registers what lower domains hand over
from app.engagements.continuity import end_due_oversight
from app.engagements.recharge import recharge_directors
from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.kit.clock import today

log = structlog.get_logger(__name__)


@queue.periodic(cron="10 * * * *", periodic_id="end-due-oversight")
@queue.task(name="engagements.end_due_oversight", queueing_lock="end-due-oversight")
async def end_due_oversight_job(timestamp: int) -> dict[str, int]:
    """Hourly (so a date is honoured within the hour whatever the time zone of the run): end
    the oversight of directors whose last day has passed, and report gaps."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        result = await end_due_oversight(session, on=today())
        await session.commit()
    if result.directors_ended:
        log.info("oversight_ended", directors=result.directors_ended, gaps=result.gaps_opened)
    return {"directors_ended": result.directors_ended, "gaps_opened": result.gaps_opened}


@queue.task(name="engagements.recharge_directors", retry=3)
async def recharge_directors_job(clinic_id: str) -> dict[str, int]:
    """After a roster change (queued by the roster's edit, in its transaction): charge each
    live engagement's directors with the people now in their states; report caps exceeded."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        result = await recharge_directors(
            session, uuid.UUID(clinic_id), default_cap=runtime.settings.default_supervisee_cap
        )
        await session.commit()
    return {"directors_recharged": result.directors_recharged, "over_caps": len(result.over_caps)}
