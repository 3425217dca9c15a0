"""The daily credential sweep: expired credentials are marked `expired` (the physician stops
being matchable there), and ones expiring soon are flagged, once, to the physician and to
operations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.vocabulary import CredentialStatus
from app.config import Settings
from app.notifications.service import notify, notify_ops
from app.physicians.handoff import Reason, cannot_oversee
from app.physicians.models import DeaRegistration, License, MalpracticePolicy, Physician

LIVE = (CredentialStatus.pending.value, CredentialStatus.verified.value)
Credential = License | DeaRegistration | MalpracticePolicy
KINDS: tuple[tuple[type[Credential], str], ...] = (
    (License, "license"),
    (DeaRegistration, "DEA registration"),
    (MalpracticePolicy, "malpractice policy"),
)


class Standing(StrEnum):
    current = "current"
    expiring = "expiring"  # within the warning window: flagged once
    expired = "expired"  # not valid on the day it expires (eligibility needs expires_on > day)


def expiry_horizon(on: date, warn_days: int) -> date:
    """The last expiry date that is within the warning window on `on`."""
    return on + timedelta(days=warn_days)


def standing(expires_on: date, *, on: date, warn_days: int) -> Standing:
    if expires_on <= on:
        return Standing.expired
    if expires_on <= expiry_horizon(on, warn_days):
        return Standing.expiring
    return Standing.current


@dataclass
class SweepResult:
    expired: int = 0
    warned: int = 0


def _describe(credential: Credential, label: str) -> str:
    if isinstance(credential, MalpracticePolicy):
        return f"{label} ({credential.carrier})"
    return f"{credential.state} {label}"


async def _end_directorships(
    session: AsyncSession, physician: Physician, credential: Credential, settings: Settings
) -> None:
    reason: Reason
    states: set[str] | None
    if isinstance(credential, License):
        reason, states = "license_lapsed", {credential.state}
    elif isinstance(credential, MalpracticePolicy):
        reason, states = "malpractice_lapsed", None
    else:
        return  # a DEA registration: matching requires it only for controlled substances
    # Another current credential of the same kind (a renewal already on file) keeps them on.
    day = credential.expires_on
    others: list[License] | list[MalpracticePolicy]
    if isinstance(credential, License):
        others = [
            c
            for c in physician.licenses
            if c.id != credential.id and c.state == credential.state and c.expires_on > day
        ]
    else:
        others = [
            c
            for c in physician.malpractice_policies
            if c.id != credential.id and c.expires_on > day
        ]
    if any(c.status in LIVE for c in others):
        return
    await cannot_oversee(
        session,
        physician.id,
        reason=reason,
        note=f"{_describe(credential, reason.replace('_', ' '))} on "
        f"{credential.expires_on.isoformat()}",
        ends_on=credential.expires_on,
        settings=settings,
        states=states,
    )


async def sweep_credentials(
    session: AsyncSession, *, on: date, warn_days: int, settings: Settings | None = None
) -> SweepResult:
    """With `settings`, a lapsed license or malpractice policy also ends the physician's
    oversight of the engagements it covered (from the expiry date) and starts the replacement
    searches (see app.engagements.continuity)."""
    result = SweepResult()
    horizon = expiry_horizon(on, warn_days)
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
            state = standing(credential.expires_on, on=on, warn_days=warn_days)
            if state is Standing.expired:
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
                    email=True,
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
                if settings is not None:
                    await _end_directorships(session, physician, credential, settings)
            elif state is Standing.expiring and credential.expiry_warned_on is None:
                credential.expiry_warned_on = on
                result.warned += 1
                days = (credential.expires_on - on).days
                left = f"{days} day{'s' if days != 1 else ''}"
                await notify(
                    session,
                    user_id=physician.user_id,
                    kind="credential.expiring",
                    email=True,
                    title=f"Your {what} expires in {left}",
                    body=f"Your {what} expires on {credential.expires_on.isoformat()}; add the "
                    "renewed one to keep receiving offers.",
                    data={"credential_id": str(credential.id), "days_left": days},
                )
                await notify_ops(
                    session,
                    kind="credential.expiring",
                    title=f"{who}: {what} expires in {left}",
                    body=f"{who}'s {what} expires on {credential.expires_on.isoformat()}.",
                    data={"physician_id": str(physician.id), "credential_id": str(credential.id)},
                )
    await session.flush()
    return result
