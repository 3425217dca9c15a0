from __future__ import annotations

import uuid

from app.clinics import team
from app.jobs.queue import queue
from app.jobs.runtime import get_runtime


@queue.task(name="clinics.send_invitation", retry=3)
async def send_invitation(invitation_id: str) -> bool:
    """Issue an invitation's token and e-mail it (nothing when it is no longer pending)."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        message = await team.issue_invitation_email(
            session, runtime.settings, uuid.UUID(invitation_id)
        )
        # Commit before sending, so the link in the e-mail always finds its token.
        await session.commit()
    if message is None:
        return False
    await runtime.email_sender.send(message)
    return True
