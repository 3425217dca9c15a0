"""What the clinic sees of its directors' credentials: each credential the engagement relies on
(the NPI, exclusion screening, the licenses and DEA registrations in the director's states,
malpractice cover, board certifications) with its newest check, read in a fixed number of
queries whatever the number of directors."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.credentials.models import CredentialCheck, CredentialKind
from app.credentials.provenance import latest_by_credential
from app.engagements.schemas import CredentialCheckSummary, DirectorCredentialRead
from app.physicians.models import BoardCertification, DeaRegistration, License, MalpracticePolicy


def _summary(check: CredentialCheck | None) -> CredentialCheckSummary | None:
    if check is None:
        return None
    return CredentialCheckSummary.model_validate(check, from_attributes=True)


async def director_credentials(
    session: AsyncSession, states: Mapping[uuid.UUID, Iterable[str]], *, on: date
) -> dict[uuid.UUID, list[DirectorCredentialRead]]:
    """Per physician (with the states they oversee here), their credentials and checks.
    Credentials expired before `on` are left out."""
    ids = list(states)
    if not ids:
        return {}
    checks = list(
        await session.scalars(
            select(CredentialCheck)
            .where(CredentialCheck.physician_id.in_(ids))
            .order_by(CredentialCheck.checked_at.desc(), CredentialCheck.id)
        )
    )
    latest: dict[uuid.UUID, dict[tuple[str, uuid.UUID | None], CredentialCheck]] = {}
    for physician_id in ids:
        latest[physician_id] = latest_by_credential(
            [c for c in checks if c.physician_id == physician_id]
        )
    out: dict[uuid.UUID, list[DirectorCredentialRead]] = {
        pid: [
            DirectorCredentialRead(
                kind=kind,
                credential_id=None,
                state=None,
                expires_on=None,
                status=None,
                check=_summary(latest[pid].get((kind.value, None))),
            )
            for kind in (CredentialKind.npi, CredentialKind.exclusion)
        ]
        for pid in ids
    }

    def add(
        physician_id: uuid.UUID,
        kind: CredentialKind,
        rows: Sequence[License | DeaRegistration | MalpracticePolicy | BoardCertification],
    ) -> None:
        for row in rows:
            out[physician_id].append(
                DirectorCredentialRead(
                    kind=kind,
                    credential_id=row.id,
                    state=getattr(row, "state", None),
                    expires_on=row.expires_on,
                    status=row.status,
                    check=_summary(latest[physician_id].get((kind.value, row.id))),
                )
            )

    kinds: tuple[
        tuple[
            CredentialKind,
            type[License]
            | type[DeaRegistration]
            | type[MalpracticePolicy]
            | type[BoardCertification],
        ],
        ...,
    ] = (
        (CredentialKind.license, License),
        (CredentialKind.dea, DeaRegistration),
        (CredentialKind.malpractice, MalpracticePolicy),
        (CredentialKind.board_certification, BoardCertification),
    )
    for kind, model in kinds:
        rows: list[Any] = list(
            await session.scalars(
                select(model)
                .where(model.physician_id.in_(ids), model.expires_on > on)
                .order_by(model.physician_id, model.expires_on, model.id)
            )
        )
        for pid in ids:
            mine = [r for r in rows if r.physician_id == pid]
            if kind in (CredentialKind.license, CredentialKind.dea):
                wanted = set(states[pid])
                mine = [r for r in mine if getattr(r, "state", None) in wanted]
            add(pid, kind, mine)
    return out
