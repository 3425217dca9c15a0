from __future__ import annotations

import structlog

from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.kit.clock import today
from app.physicians.expiry import sweep_credentials

log = structlog.get_logger(__name__)


@queue.periodic(cron="5 6 * * *", periodic_id="credential-sweep")
@queue.task(name="physicians.credential_sweep", queueing_lock="credential-sweep")
async def credential_sweep(timestamp: int) -> dict[str, int]:
    """Daily: mark expired credentials and warn of those expiring soon."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        result = await sweep_credentials(
            session,
            on=today(),
            warn_days=runtime.settings.credential_expiry_warning_days,
            settings=runtime.settings,
        )
        await session.commit()
    log.info("credential_sweep", expired=result.expired, warned=result.warned)
    return {"expired": result.expired, "warned": result.warned}
