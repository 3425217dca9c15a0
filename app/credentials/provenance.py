"""Recording and reading what was checked about a physician's credentials."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.credentials.models import (
    CheckMethod,
    CheckResult,
    CheckSource,
    CredentialCheck,
    CredentialKind,
)
from app.kit.clock import utcnow


async def record_check(
    session: AsyncSession,
    *,
    physician_id: uuid.UUID,
    kind: CredentialKind,
    source: CheckSource,
    method: CheckMethod,
    result: CheckResult,
    credential_id: uuid.UUID | None = None,
    source_detail: str | None = None,
    compared: dict[str, Any] | None = None,
    detail: str | None = None,
    checked_by: uuid.UUID | None = None,
    recheck_due: date | None = None,
) -> CredentialCheck:
    """One check, in the caller's transaction. A self-attested record passes nothing: it is
    written as what the physician stated, never as `passed`."""
    if method == CheckMethod.self_attested and result == CheckResult.passed:
        raise ValueError("a self-attested credential is not a passed check")
    check = CredentialCheck(
        id=uuid.uuid4(),
        physician_id=physician_id,
        credential_kind=kind.value,
        credential_id=credential_id,
        source=source.value,
        source_detail=source_detail,
        method=method.value,
        compared=compared or {},
        result=result.value,
        detail=detail,
        checked_at=utcnow(),
        checked_by=checked_by,
        recheck_due=recheck_due,
    )
    session.add(check)
    await session.flush()
    return check


async def checks_of(
    session: AsyncSession, physician_id: uuid.UUID, *, limit: int = 500
) -> Sequence[CredentialCheck]:
    """Every check of the physician, newest first."""
    return list(
        await session.scalars(
            select(CredentialCheck)
            .where(CredentialCheck.physician_id == physician_id)
            .order_by(CredentialCheck.checked_at.desc(), CredentialCheck.id)
            .limit(limit)
        )
    )


def latest_by_credential(
    checks: Sequence[CredentialCheck],
) -> dict[tuple[str, uuid.UUID | None], CredentialCheck]:
    """The newest check of each credential (and of the physician's npi and exclusion status),
    from checks ordered newest first."""
    latest: dict[tuple[str, uuid.UUID | None], CredentialCheck] = {}
    for check in checks:
        latest.setdefault((check.credential_kind, check.credential_id), check)
    return latest
