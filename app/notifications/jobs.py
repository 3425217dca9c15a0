from __future__ import annotations

import uuid

from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.notifications.service import send_pending_emails


@queue.periodic(cron="* * * * *", periodic_id="send-pending-emails")
@queue.task(name="notifications.send_pending_emails", queueing_lock="send-pending-emails")
async def send_emails(timestamp: int) -> int:
    """Every minute: send the e-mail copies of notifications queued in the outbox. Messages that
    could not go out stay pending for the next run (skipped for the rest of this one)."""
    runtime = get_runtime()
    sent = 0
    deferred: list[uuid.UUID] = []
    while True:
        async with runtime.sessionmaker() as session:
            run = await send_pending_emails(
                session, runtime.email_sender, runtime.settings, skip=deferred
            )
            await session.commit()
        sent += run.sent
        deferred.extend(run.deferred)
        if run.attempted == 0 or run.relay_unavailable:
            return sent
