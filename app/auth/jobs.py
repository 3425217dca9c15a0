from __future__ import annotations

from app.auth import service
from app.jobs.queue import queue
from app.jobs.runtime import get_runtime


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
