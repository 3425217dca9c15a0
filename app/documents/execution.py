"""The executed document: once every party has signed, the PDF they signed gets a signature page
and an audit trail appended, and the whole file is sealed with the platform's key.

The parties sign in mdmatch (app/documents/providers.py, `InProductSigning`), each over the
SHA-256 of the exact unsigned PDF. That hash is what ties a signature to a text, so `finalize`
refuses to build the executed copy from any other bytes. The signature page prints, per signer,
what the ESIGN Act and UETA look to (consent to electronic records, intent to sign, attribution:
how the signer was identified, when and from where) and the audit trail every recorded event;
the seal (app/documents/seal.py) then makes the printed record tamper-evident in any PDF reader.

The lead fills the plain dataclasses below from the database; everything here is pure, so it
is tested without one. Values reach the typst template as JSON through `sys.inputs` and are
placed as text: nothing a user typed is ever typst source.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import typst
from pypdf import PdfReader, PdfWriter

from app.documents.seal import SealIdentity, seal_pdf

TEMPLATE = Path(__file__).parent / "templates" / "execution.typ"
NOT_RECORDED = "not recorded"


class ExecutionError(ValueError):
    """The executed copy cannot be made from these inputs (the bytes are not the ones the
    parties signed, or nobody signed)."""


@dataclass(frozen=True)
class SignatureRecord:
    """One party's signature as mdmatch recorded it."""

    party_role: str  # "Medical director", "Clinic (owner)", ...
    signer_name: str
    signer_email: str
    on_behalf_of: str  # the clinic or the director's practice the signer binds
    signed_at: datetime
    ip_address: str | None
    user_agent: str | None
    consent_text: str  # the consent to electronic records and signatures the signer accepted
    consent_at: datetime
    intent_text: str  # the statement the signer affirmed by signing
    document_sha256: str  # the hash of the unsigned PDF this signer was shown and signed
    auth_method: str  # e.g. "mdmatch session (password login)"
    user_id: str


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    detail: str
    ip_address: str | None = None


@dataclass(frozen=True)
class ExecutionInfo:
    document_id: str
    title: str
    template_key: str
    template_version: str
    document_sha256: str  # the hash of the unsigned PDF every party signed
    signatures: Sequence[SignatureRecord]
    trail: Sequence[AuditEntry]
    executed_at: datetime


def utc_text(at: datetime) -> str:
    """An instant as the pages print it: ISO 8601 in UTC, "2028-02-29 23:30:00 UTC". A naive
    datetime is refused: its zone is unknown."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} has no time zone; the execution record prints UTC instants")
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_execution_pages(
    info: ExecutionInfo, *, seal: SealIdentity | None = None, document_pages: int | None = None
) -> bytes:
    """The signature page(s) and the audit trail as a PDF of their own (typst; CPU-bound, call it
    from a thread). `seal` names the certificate the page says the file is sealed with;
    `document_pages` the page count of the signed document it follows."""
    data = _template_data(info, seal=seal, document_pages=document_pages)
    pdf = typst.compile(
        TEMPLATE,
        sys_inputs={"data": json.dumps(data)},
        ignore_system_fonts=True,
        timestamp=info.executed_at.replace(microsecond=0),  # typst refuses microseconds
    )
    if not isinstance(pdf, bytes):
        raise TypeError("typst returned no PDF")
    return pdf


async def finalize(unsigned_pdf: bytes, info: ExecutionInfo, identity: SealIdentity) -> bytes:
    """The executed copy: `unsigned_pdf` (which must be the exact bytes every party signed) with
    the signature page and audit trail after its pages, sealed with `identity`."""
    digest = hashlib.sha256(unsigned_pdf).hexdigest()
    if digest != info.document_sha256.lower():
        raise ExecutionError(
            f"the PDF's SHA-256 is {digest}, not {info.document_sha256}: the parties signed "
            "other bytes"
        )
    if not info.signatures:
        raise ExecutionError("nobody signed the document")
    for sig in info.signatures:
        if sig.document_sha256.lower() != digest:
            raise ExecutionError(
                f"{sig.signer_name} ({sig.party_role}) signed a document with SHA-256 "
                f"{sig.document_sha256}, not this one ({digest})"
            )
    joined = await asyncio.to_thread(_assemble, unsigned_pdf, info, identity)
    return await seal_pdf(
        joined,
        identity,
        reason=f"Executed by all parties: {info.title}",
        document_id=info.document_id,
    )


def _assemble(unsigned_pdf: bytes, info: ExecutionInfo, identity: SealIdentity) -> bytes:
    original = PdfReader(BytesIO(unsigned_pdf))
    pages = render_execution_pages(info, seal=identity, document_pages=len(original.pages))
    writer = PdfWriter()
    writer.append(original)
    writer.append(PdfReader(BytesIO(pages)))
    writer.add_metadata(
        {
            "/Title": info.title,
            "/Subject": f"Executed copy of mdmatch document {info.document_id}",
            "/Producer": "mdmatch",
        }
    )
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _template_data(
    info: ExecutionInfo, *, seal: SealIdentity | None, document_pages: int | None
) -> dict[str, Any]:
    expected = info.document_sha256.lower()
    return {
        "document_id": info.document_id,
        "title": info.title,
        "template_key": info.template_key,
        "template_version": str(info.template_version),
        "document_sha256": expected,
        "executed_at": utc_text(info.executed_at),
        "document_part": (
            "the document"
            if document_pages is None
            else f"the document's {document_pages} page{'s' if document_pages != 1 else ''}"
        ),
        "seal_subject": seal.subject if seal is not None else "mdmatch document seal",
        "seal_fingerprint": seal.fingerprint_sha256 if seal is not None else NOT_RECORDED,
        "signatures": [
            {
                "party_role": sig.party_role,
                "signer_name": sig.signer_name,
                "signer_email": sig.signer_email,
                "on_behalf_of": sig.on_behalf_of,
                "signed_at": utc_text(sig.signed_at),
                "ip_address": sig.ip_address or NOT_RECORDED,
                "user_agent": sig.user_agent or NOT_RECORDED,
                "consent_text": sig.consent_text,
                "consent_at": utc_text(sig.consent_at),
                "intent_text": sig.intent_text,
                "document_sha256": sig.document_sha256.lower(),
                "hash_note": (
                    "the document above"
                    if sig.document_sha256.lower() == expected
                    else "NOT the document above"
                ),
                "auth_method": sig.auth_method,
                "user_id": sig.user_id,
            }
            for sig in info.signatures
        ],
        "trail": [
            {
                "at": utc_text(entry.at),
                "actor": entry.actor,
                "action": entry.action,
                "detail": entry.detail,
                "ip_address": entry.ip_address or "",
            }
            # Oldest first; entries at the same instant keep the order they were given in.
            for entry in sorted(info.trail, key=lambda entry: entry.at)
        ],
    }
