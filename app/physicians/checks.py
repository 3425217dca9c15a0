"""The record of what was checked about a physician's credentials: one row per check, naming the
source (NPPES, a state board, the federal exclusion list, a document reviewed by operations, the
physician's own statement), the method, what was compared, the result, when, and when it is due
again. It lives with the credentials it is about, so the physicians domain records its own
checks; the credentials domain (`app.credentials`) records the ones it runs and shows them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UUIDPrimaryKey, enum_check
from app.kit.clock import utcnow


class CredentialKind(StrEnum):
    npi = "npi"  # the physician's identity in NPPES
    license = "license"
    dea = "dea"
    malpractice = "malpractice"
    board_certification = "board_certification"
    exclusion = "exclusion"  # federal exclusion screening (no credential row: the physician)


class CheckSource(StrEnum):
    nppes = "nppes"  # the CMS National Plan and Provider Enumeration System
    state_board = "state_board"  # a state medical board's license lookup
    oig_leie = "oig_leie"  # HHS-OIG List of Excluded Individuals/Entities
    document = "document"  # a document uploaded and reviewed by operations
    physician = "physician"  # the physician's own statement


class CheckMethod(StrEnum):
    primary_source = "primary_source"  # looked up at the issuing or listing body
    document_review = "document_review"  # a person compared a document with the record
    self_attested = "self_attested"  # typed in; nothing checked


class CheckResult(StrEnum):
    passed = "passed"
    failed = "failed"
    needs_review = "needs_review"  # a person must decide (a possible match, a document)
    unavailable = "unavailable"  # the source could not be reached or has no answer


class CredentialCheck(UUIDPrimaryKey, Base):
    """One check of one credential (or of the physician, for `npi` and `exclusion`): what was
    compared against which source, by which method, the result, and when it is due again."""

    __tablename__ = "credential_checks"
    __table_args__ = (
        CheckConstraint(enum_check("credential_kind", CredentialKind), name="credential_kind"),
        CheckConstraint(enum_check("source", CheckSource), name="source"),
        CheckConstraint(enum_check("method", CheckMethod), name="method"),
        CheckConstraint(enum_check("result", CheckResult), name="result"),
        Index("ix_credential_checks_physician_id_checked_at", "physician_id", "checked_at"),
        Index("ix_credential_checks_credential_id", "credential_id"),
        Index(
            "ix_credential_checks_recheck_due",
            "recheck_due",
            postgresql_where=text("recheck_due IS NOT NULL"),
        ),
    )

    physician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("physicians.id", ondelete="CASCADE"))
    credential_kind: Mapped[str] = mapped_column(String(24))
    # The license, DEA registration, policy or certification row (null for npi and exclusion).
    credential_id: Mapped[uuid.UUID | None]
    source: Mapped[str] = mapped_column(String(16))
    # Which body or file exactly: "TX Medical Board", "LEIE 2026-11", a document id.
    source_detail: Mapped[str | None] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(16))
    # What was compared: {"field": {"ours": ..., "source": ...}, ...}
    compared: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", default=dict)
    result: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime]
    checked_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    recheck_due: Mapped[date | None]


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
