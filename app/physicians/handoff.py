"""What a physician's standing hands to the engagements they direct: when they may no longer
oversee (suspended, rejected at re-verification, a license or malpractice cover lapsed), each
directorship ends and its replacement search starts, in the same transaction as the change
that caused it. The engagements domain handles it (`app.engagements.continuity`); this domain
names it only (`app.kit.handlers`), so it imports nothing above it."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.kit import handlers

CANNOT_OVERSEE = "engagements.physician_cannot_oversee"

# The credentials domain's job screening a newly verified physician against the exclusion list
# (`app.credentials.jobs`), queued by name in the verification's transaction.
SCREEN_PHYSICIAN_JOB = "credentials.screen_physician"
# The credentials domain's job checking a verified physician's pending credentials at their
# sources (licenses at state boards; the rest asks for documents), queued by name when the
# identity is verified and when a verified physician adds a credential.
CHECK_CREDENTIALS_JOB = "credentials.check_credentials"

Reason = Literal["license_lapsed", "malpractice_lapsed", "suspended", "rejected"]


async def cannot_oversee(
    session: AsyncSession,
    physician_id: uuid.UUID,
    *,
    reason: Reason,
    note: str | None,
    ends_on: date,
    settings: Settings,
    states: set[str] | None = None,
) -> int:
    """End the physician's directorships (in `states` only, when given) from `ends_on`;
    returns how many ended."""
    count: int = await handlers.call(
        CANNOT_OVERSEE,
        session,
        physician_id,
        reason=reason,
        note=note,
        ends_on=ends_on,
        settings=settings,
        states=states,
    )
    return count
