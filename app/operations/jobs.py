from __future__ import annotations

from datetime import timedelta

import structlog

from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.kit.clock import today
from app.notifications.service import notify_ops
from app.operations.summary import daily_summary, summary_text

log = structlog.get_logger(__name__)


@queue.periodic(cron="0 7 * * *", periodic_id="ops-daily-summary")
@queue.task(name="operations.daily_summary", queueing_lock="ops-daily-summary")
async def send_daily_summary(timestamp: int) -> dict[str, object]:
    """07:00 UTC: yesterday's placements and today's backlog, to every operations account."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        summary = await daily_summary(
            session, day=today() - timedelta(days=1), settings=runtime.settings
        )
        await notify_ops(
            session,
            kind="ops.daily_summary",
            title=f"mdmatch daily summary {summary.day:%Y-%m-%d}",
            body=summary_text(summary),
            data=summary.model_dump(mode="json"),
            email=True,
        )
        await session.commit()
    log.info("ops_daily_summary", **summary.model_dump(mode="json"))
    return summary.model_dump(mode="json")
