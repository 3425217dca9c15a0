from __future__ import annotations

from app.auth import service
from app.jobs.queue import queue
from app.jobs.runtime import get_runtime


@queue.periodic(cron="23 4 * * *", periodic_id="purge-expired-tokens")
@queue.task(name="auth.purge_expired_tokens", queueing_lock="purge-expired-tokens")
async def purge_expired_tokens(timestamp: int) -> int:
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        deleted = await service.purge_expired_tokens(session)
        await session.commit()
    return deleted


@queue.task(name="auth.send_password_reset", retry=3)
async def send_password_reset(email: str) -> bool:
    """Issue a reset token and e-mail it, when an account has this e-mail."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        message = await service.issue_password_reset(session, runtime.settings, email=email)
        # Commit before sending, so the link in the e-mail always finds its token.
        await session.commit()
    if message is None:
        return False
    await runtime.email_sender.send(message)
    return True
