"""Who hears of what: the people behind a clinic or a physician, and the fan-out of one notice
to the parties of an engagement (its clinic's members, its current directors, operations).

Notifications sits below the clinics, physicians and engagements domains, so it reads the two
membership tables it needs (`clinic_members`, `physicians`) by name here rather than importing
those domains' models: every domain above can address people by the role they hold.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import Uuid, column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from app.notifications.service import notify, notify_ops

_clinic_members = table("clinic_members", column("clinic_id", Uuid()), column("user_id", Uuid()))
_physicians = table("physicians", column("id", Uuid()), column("user_id", Uuid()))


class _Director(Protocol):
    @property
    def physician_id(self) -> uuid.UUID: ...
    @property
    def ended_at(self) -> datetime | None: ...


class Parties(Protocol):
    """What notify_parties needs of an engagement: its id, its clinic and its directors."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def clinic_id(self) -> uuid.UUID: ...
    @property
    def directors(self) -> Sequence[_Director]: ...


async def clinic_admin_ids(session: AsyncSession, clinic_id: uuid.UUID) -> list[uuid.UUID]:
    """Every member of the clinic's team (they administer it in the app)."""
    return list(
        await session.scalars(
            select(_clinic_members.c.user_id).where(_clinic_members.c.clinic_id == clinic_id)
        )
    )


async def physician_user_ids(
    session: AsyncSession, physician_ids: Iterable[uuid.UUID]
) -> list[uuid.UUID]:
    ids = list(physician_ids)
    if not ids:
        return []
    return list(
        await session.scalars(select(_physicians.c.user_id).where(_physicians.c.id.in_(ids)))
    )


async def physician_user_id(session: AsyncSession, physician_id: uuid.UUID) -> uuid.UUID:
    user_id: uuid.UUID | None = await session.scalar(
        select(_physicians.c.user_id).where(_physicians.c.id == physician_id)
    )
    assert user_id is not None
    return user_id


async def director_user_ids(session: AsyncSession, engagement: Parties) -> list[uuid.UUID]:
    """The users of the engagement's current directors (those whose oversight has not ended)."""
    return await physician_user_ids(
        session, [d.physician_id for d in engagement.directors if d.ended_at is None]
    )


async def notify_clinic(
    session: AsyncSession,
    clinic_id: uuid.UUID,
    *,
    kind: str,
    title: str,
    body: str,
    data: dict[str, str] | None = None,
    email: bool = True,
) -> None:
    for user_id in await clinic_admin_ids(session, clinic_id):
        await notify(
            session, user_id=user_id, kind=kind, title=title, body=body, data=data, email=email
        )


async def notify_parties(
    session: AsyncSession,
    engagement: Parties,
    *,
    kind: str,
    clinic: tuple[str, str] | None = None,
    physicians: tuple[str, str] | None = None,
    ops: tuple[str, str] | None = None,
    ops_email: bool = False,
) -> None:
    """One notice (title, body) per party of the engagement: the clinic's members and the
    current directors by e-mail too, operations in the app (and by e-mail with `ops_email`)."""
    data = {"engagement_id": str(engagement.id)}
    if clinic:
        await notify_clinic(
            session, engagement.clinic_id, kind=kind, title=clinic[0], body=clinic[1], data=data
        )
    if physicians:
        for user_id in await director_user_ids(session, engagement):
            await notify(
                session,
                user_id=user_id,
                kind=kind,
                title=physicians[0],
                body=physicians[1],
                data=data,
                email=True,
            )
    if ops:
        await notify_ops(session, kind=kind, title=ops[0], body=ops[1], data=data, email=ops_email)
