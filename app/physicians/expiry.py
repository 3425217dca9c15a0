"""The daily credential sweep: expired credentials are marked `expired` (the physician stops
being matchable there), and ones expiring soon are flagged, once, to the physician and to
operations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.vocabulary import CredentialStatus
from app.notifications.service import notify, notify_ops
from app.physicians.models import DeaRegistration, License, MalpracticePolicy, Physician

LIVE = (CredentialStatus.pending.value, CredentialStatus.verified.value)
Credential = License | DeaRegistration | MalpracticePolicy
KINDS: tuple[tuple[type[Credential], str], ...] = (
    (License, "license"),
    (DeaRegistration, "DEA registration"),
    (MalpracticePolicy, "malpractice policy"),
)


@dataclass
class SweepResult:
    expired: int = 0
    warned: int = 0


def _describe(credential: Credential, label: str) -> str:
    if isinstance(credential, MalpracticePolicy):
        return f"{label} ({credential.carrier})"
    return f"{credential.state} {label}"


async def sweep_credentials(session: AsyncSession, *, on: date, warn_days: int) -> SweepResult:
    result = SweepResult()
    horizon = on + timedelta(days=warn_days)
    for model, label in KINDS:
        rows = await session.execute(
            select(model, Physician)
            .join(Physician, Physician.id == model.physician_id)
            .where(model.status.in_(LIVE), model.expires_on <= horizon)
            .with_for_update(of=model, skip_locked=True)
        )
        for row in rows:
            credential = cast(Credential, row[0])
            physician: Physician = row[1]
            what = _describe(credential, label)
            who = f"Dr. {physician.first_name} {physician.last_name}"
            if credential.expires_on <= on:
                credential.status = CredentialStatus.expired.value
                result.expired += 1
                body = (
                    f"Your {what} expired on {credential.expires_on.isoformat()}. Until you add "
                    "a current one you receive no offers that depend on it."
                )
                await notify(
                    session,
                    user_id=physician.user_id,
                    kind="credential.expired",
                    title=f"Your {what} expired",
                    body=body,
                    data={"credential_id": str(credential.id)},
                )
                await notify_ops(
                    session,
                    kind="credential.expired",
                    title=f"{who}: {what} expired",
                    body=f"{who}'s {what} expired on {credential.expires_on.isoformat()}.",
                    data={"physician_id": str(physician.id), "credential_id": str(credential.id)},
                )
            elif credential.expiry_warned_on is None:
                credential.expiry_warned_on = on
                result.warned += 1
                days = (credential.expires_on - on).days
                await notify(
                    session,
                    user_id=physician.user_id,
                    kind="credential.expiring",
                    title=f"Your {what} expires in {days} days",
                    body=f"Your {what} expires on {credential.expires_on.isoformat()}; add the "
                    "renewed one to keep receiving offers.",
                    data={"credential_id": str(credential.id), "days_left": days},
                )
                await notify_ops(
                    session,
                    kind="credential.expiring",
                    title=f"{who}: {what} expires in {days} days",
                    body=f"{who}'s {what} expires on {credential.expires_on.isoformat()}.",
                    data={"physician_id": str(physician.id), "credential_id": str(credential.id)},
                )
    await session.flush()
    return result
