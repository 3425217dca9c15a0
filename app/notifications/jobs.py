from __future__ import annotations

from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.notifications.service import send_pending_emails


@queue.periodic(cron="* * * * *", periodic_id="send-pending-emails")
@queue.task(name="notifications.send_pending_emails", queueing_lock="send-pending-emails")
async def send_emails(timestamp: int) -> int:
    """Every minute: send the e-mail copies of notifications queued in the outbox."""
    runtime = get_runtime()
    sent = 0
    while True:
        async with runtime.sessionmaker() as session:
            n = await send_pending_emails(session, runtime.email_sender)
            await session.commit()
        sent += n
        if n == 0:
            return sent
