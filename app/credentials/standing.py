"""Each credential as it stands: its status, what verifies it (a board look-up or a document
review, and why), its newest check and its newest document. What the physician and operations
read beside the check history (`GET /v1/physicians/me/credential-checks`, `credentials`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.credentials.checking import Route, route_of
from app.credentials.documents_models import CredentialDocument
from app.credentials.models import CredentialCheck, CredentialKind
from app.physicians.models import (
    BoardCertification,
    DeaRegistration,
    License,
    MalpracticePolicy,
)


@dataclass(frozen=True)
class Standing:
    credential_kind: CredentialKind
    credential_id: uuid.UUID
    label: str
    status: str
    expires_on: date
    route: Route
    route_detail: str
    latest_check: CredentialCheck | None
    document_status: str | None


def _label(kind: CredentialKind, row: Any) -> tuple[str, str | None]:
    if kind == CredentialKind.license:
        return f"{row.state} license {row.number}", row.state
    if kind == CredentialKind.dea:
        return f"DEA registration {row.number} ({row.state})", None
    if kind == CredentialKind.malpractice:
        return f"malpractice policy {row.policy_number} ({row.carrier})", None
    return f"board certification in {row.specialty} ({row.board})", None


_MODELS: tuple[tuple[CredentialKind, Any], ...] = (
    (CredentialKind.license, License),
    (CredentialKind.dea, DeaRegistration),
    (CredentialKind.malpractice, MalpracticePolicy),
    (CredentialKind.board_certification, BoardCertification),
)


async def standing_of(
    session: AsyncSession,
    physician_id: uuid.UUID,
    latest: Mapping[tuple[str, uuid.UUID | None], CredentialCheck],
    settings: Settings,
) -> list[Standing]:
    documents: dict[uuid.UUID, str] = {}
    for credential_id, status in await session.execute(
        select(CredentialDocument.credential_id, CredentialDocument.status)
        .where(CredentialDocument.physician_id == physician_id)
        .order_by(CredentialDocument.uploaded_at, CredentialDocument.id)
    ):
        documents[credential_id] = status  # the newest wins
    result: list[Standing] = []
    for kind, model in _MODELS:
        rows = await session.scalars(
            select(model)
            .where(model.physician_id == physician_id)
            .order_by(model.expires_on.desc(), model.id)
        )
        for row in rows:
            label, state = _label(kind, row)
            route, detail = route_of(kind, state, settings)
            result.append(
                Standing(
                    credential_kind=kind,
                    credential_id=row.id,
                    label=label,
                    status=row.status,
                    expires_on=row.expires_on,
                    route=route,
                    route_detail=detail,
                    latest_check=latest.get((kind.value, row.id)),
                    document_status=documents.get(row.id),
                )
            )
    return result
