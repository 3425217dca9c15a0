"""The executed copy (app/documents/execution.py): the signed document, a signature page and an
audit trail, sealed. Pure: no database, no network."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
import typst
from pypdf import PdfReader

from app.config import Settings
from app.documents.execution import (
    AuditEntry,
    ExecutionError,
    ExecutionInfo,
    SignatureRecord,
    finalize,
    render_execution_pages,
    utc_text,
)
from app.documents.providers import (
    InProductSigning,
    ProviderStatus,
    SigningDocument,
    SigningParty,
    SigningProvider,
)
from app.documents.seal import SealIdentity, seal_identity, verify_pdf

NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
CONSENT = "I agree to use electronic records and signatures for this agreement."
INTENT = "By signing I intend to be bound by this agreement."


@pytest.fixture(scope="module")
def unsigned_pdf() -> bytes:
    """A three-page stand-in for a generated agreement."""
    source = "= Supervision agreement\n" + "\n#pagebreak()\n".join(
        f"Page {n} of the agreement." for n in (1, 2, 3)
    )
    pdf = typst.compile(source.encode(), ignore_system_fonts=True)
    assert isinstance(pdf, bytes)
    return pdf


@pytest.fixture(scope="module")
def identity() -> SealIdentity:
    return seal_identity(Settings(_env_file=None, environment="test"))


@pytest.fixture
def info(unsigned_pdf: bytes) -> ExecutionInfo:
    digest = hashlib.sha256(unsigned_pdf).hexdigest()
    director = SignatureRecord(
        party_role="Medical director",
        signer_name="Dana Whitfield, MD",
        signer_email="dana@example.com",
        on_behalf_of="Whitfield Medical PLLC",
        # 03:30 EDT on the US DST day (02:00 EST jumped to 03:00 EDT): 07:30 UTC.
        signed_at=datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK),
        ip_address="203.0.113.7",
        user_agent="Mozilla/5.0 (Macintosh) Safari/605.1.15",
        consent_text=CONSENT,
        # 01:30 EST, before the change: 06:30 UTC.
        consent_at=datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK),
        intent_text=INTENT,
        document_sha256=digest,
        auth_method="mdmatch session (password login)",
        user_id="2f0c6a55-5c1b-4d8e-9a34-0b7f3c2d1e10",
    )
    clinic = SignatureRecord(
        party_role="Clinic (owner)",
        signer_name="Ana Ödön",
        signer_email="ana@example.com",
        on_behalf_of="Glow Aesthetics LLC",
        # 23:30 PST on the leap day: already 1 March in UTC.
        signed_at=datetime(2028, 2, 29, 23, 30, tzinfo=LOS_ANGELES),
        ip_address="2001:db8::42",
        user_agent=None,
        consent_text=CONSENT,
        consent_at=datetime(2028, 2, 29, 12, 0, tzinfo=UTC),
        intent_text=INTENT,
        document_sha256=digest.upper(),  # hex case does not matter
        auth_method="mdmatch session (password login)",
        user_id="8d1e2f3a-0b4c-4d5e-8f60-718293a4b5c6",
    )
    trail = [
        AuditEntry(
            at=datetime(2028, 2, 29, 23, 30, tzinfo=LOS_ANGELES),
            actor="ana@example.com",
            action="document.signed",
            detail="Signed as Clinic (owner)",
            ip_address="2001:db8::42",
        ),
        AuditEntry(
            at=datetime(2026, 3, 8, 6, 0, tzinfo=UTC),
            actor="system",
            action="document.generated",
            detail="Generated from template tx-delegation v3",
        ),
        AuditEntry(
            at=datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK),
            actor="dana@example.com",
            action="document.signed",
            detail=f"Dana Whitfield signed as Medical director; SHA-256 {digest}",
            ip_address="203.0.113.7",
        ),
    ]
    return ExecutionInfo(
        document_id="6b1f0e2c-3d4a-4b5c-9d6e-7f8091a2b3c4",
        title="Delegation and supervision agreement",
        template_key="tx-delegation",
        template_version="3",
        document_sha256=digest,
        signatures=[director, clinic],
        trail=trail,
        executed_at=datetime(2028, 3, 1, 7, 30, tzinfo=UTC),
    )


def _text(pdf: bytes, first_page: int = 0) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages[first_page:])


def _flat(text: str) -> str:
    """Extracted text with line breaks as spaces (long lines wrap where typst broke them)."""
    return re.sub(r"\s+", " ", text)


async def test_finalize_appends_the_execution_pages_and_seals(
    unsigned_pdf: bytes, info: ExecutionInfo, identity: SealIdentity
) -> None:
    final = await finalize(unsigned_pdf, info, identity)

    execution_pages = len(PdfReader(BytesIO(render_execution_pages(info, seal=identity))).pages)
    assert execution_pages >= 2  # the signature page(s), then the audit trail
    assert len(PdfReader(BytesIO(final)).pages) == 3 + execution_pages
    assert "Page 2 of the agreement." in _text(final)

    report = await verify_pdf(final, identity)
    assert report.ok, report.summary

    text = _flat(_text(final, first_page=3))
    for sig in info.signatures:
        assert sig.signer_name in text
        assert sig.signer_email in text
        assert sig.on_behalf_of in text
        assert sig.party_role in text
        assert sig.user_id in text
    assert CONSENT in text
    assert INTENT in text
    assert "mdmatch session (password login)" in text
    assert "203.0.113.7" in text
    assert "2001:db8::42" in text
    assert info.document_sha256 in text
    # The document's, each signer's, and the audit trail's (a long detail stays on one line).
    assert text.count(info.document_sha256) == 4
    assert "the document above" in text
    assert "not recorded" in text  # the clinic's missing user agent
    assert identity.fingerprint_sha256 in text
    assert f"/v1/documents/{info.document_id}/verify" in text
    assert "ESIGN" in text
    assert "Uniform Electronic Transactions Act" in text
    assert "the document's 3 pages" in text


async def test_times_print_in_utc_across_a_dst_change_and_a_leap_day(
    unsigned_pdf: bytes, info: ExecutionInfo, identity: SealIdentity
) -> None:
    text = _flat(_text(render_execution_pages(info, seal=identity)))
    assert "Signed at 2026-03-08 07:30:00 UTC" in text  # 03:30 EDT
    assert "Consented at 2026-03-08 06:30:00 UTC" in text  # 01:30 EST, the same night
    assert "Signed at 2028-03-01 07:30:00 UTC" in text  # 23:30 PST on 29 February
    assert "Consented at 2028-02-29 12:00:00 UTC" in text
    assert "Fully executed 2028-03-01 07:30:00 UTC" in text


def test_utc_text() -> None:
    assert utc_text(datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)) == "2028-02-29 23:59:59 UTC"
    assert utc_text(datetime(2026, 11, 1, 1, 30, fold=0, tzinfo=NEW_YORK)) == (
        "2026-11-01 05:30:00 UTC"  # the first 01:30 (EDT)
    )
    assert utc_text(datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK)) == (
        "2026-11-01 06:30:00 UTC"  # the second 01:30 (EST)
    )
    with pytest.raises(ValueError, match="no time zone"):
        utc_text(datetime(2028, 2, 29, 12, 0))


async def test_the_audit_trail_lists_every_entry_oldest_first(
    info: ExecutionInfo, identity: SealIdentity
) -> None:
    pdf = render_execution_pages(info, seal=identity)
    trail = _flat(PdfReader(BytesIO(pdf)).pages[-1].extract_text())
    assert trail.startswith("Audit trail")
    generated = trail.index("2026-03-08 06:00:00 UTC system document.generated")
    director = trail.index("2026-03-08 07:30:00 UTC dana@example.com document.signed")
    clinic = trail.index("2028-03-01 07:30:00 UTC ana@example.com document.signed")
    assert generated < director < clinic
    assert "Generated from template tx-delegation v3" in trail
    assert "Signed as Clinic (owner)" in trail
    assert f"signed as Medical director; SHA-256 {info.document_sha256}" in trail


async def test_a_long_audit_trail_runs_over_pages_and_keeps_every_entry(
    info: ExecutionInfo, identity: SealIdentity
) -> None:
    start = datetime(2028, 2, 28, 22, 0, tzinfo=UTC)
    entries = [
        AuditEntry(
            at=start + timedelta(minutes=17 * n),
            actor="system",
            action="document.viewed",
            detail=f"Viewed, entry {n:03d}",
        )
        for n in range(150)
    ]
    pdf = render_execution_pages(replace(info, trail=entries), seal=identity)
    reader = PdfReader(BytesIO(pdf))
    assert len(reader.pages) >= 4
    text = _flat(_text(pdf))
    positions = [text.index(f"Viewed, entry {n:03d}") for n in range(150)]
    assert positions == sorted(positions)
    assert "2028-02-29 00:16:00 UTC system document.viewed Viewed, entry 008" in text
    assert "2028-03-01 00:04:00 UTC system document.viewed Viewed, entry 092" in text
    assert text.count("Time (UTC)") >= 2  # the header repeats on every page


async def test_user_text_is_printed_never_evaluated(
    info: ExecutionInfo, identity: SealIdentity
) -> None:
    hostile = [
        '#panic("x")',
        "*bold* _em_ $x^2$ <label> @ref `raw` \\ #let a = 1",
        '"); #panic("y"); //',
    ]
    signer = replace(info.signatures[0], signer_name=hostile[0], on_behalf_of=hostile[1])
    entry = AuditEntry(
        at=info.executed_at, actor=hostile[2], action='#eval("1")', detail="] #panic() ["
    )
    tricky = replace(
        info,
        title='Agreement #panic("title")',
        signatures=[signer, info.signatures[1]],
        trail=[*info.trail, entry],
    )
    text = _flat(_text(render_execution_pages(tricky, seal=identity)))
    assert '#panic("x")' in text
    assert '#panic("title")' in text
    assert "*bold* _em_ $x^2$ <label> @ref `raw` \\ #let a = 1" in text
    assert '"); #panic("y"); //' in text
    assert '#eval("1")' in text
    assert "] #panic() [" in text


async def test_finalize_refuses_bytes_the_parties_did_not_sign(
    unsigned_pdf: bytes, info: ExecutionInfo, identity: SealIdentity
) -> None:
    with pytest.raises(ExecutionError, match="the parties signed other bytes"):
        await finalize(unsigned_pdf + b"\n", info, identity)
    other = replace(info, document_sha256=hashlib.sha256(b"another version").hexdigest())
    with pytest.raises(ExecutionError, match="the parties signed other bytes"):
        await finalize(unsigned_pdf, other, identity)


async def test_finalize_refuses_a_signature_over_another_version(
    unsigned_pdf: bytes, info: ExecutionInfo, identity: SealIdentity
) -> None:
    stale = replace(info.signatures[1], document_sha256=hashlib.sha256(b"v2").hexdigest())
    mixed = replace(info, signatures=[info.signatures[0], stale])
    with pytest.raises(ExecutionError, match=r"Ana Ödön .* signed a document with SHA-256"):
        await finalize(unsigned_pdf, mixed, identity)
    with pytest.raises(ExecutionError, match="nobody signed"):
        await finalize(unsigned_pdf, replace(info, signatures=[]), identity)


async def test_a_finalized_copy_changed_afterwards_fails_verification(
    unsigned_pdf: bytes, info: ExecutionInfo, identity: SealIdentity
) -> None:
    final = await finalize(unsigned_pdf, info, identity)
    at = final.index(b"Delegation and supervision agreement")
    tampered = final[:at] + b"X" + final[at + 1 :]
    report = await verify_pdf(tampered, identity)
    assert report.sealed
    assert not report.intact
    assert not report.ok


async def test_in_product_signing_has_nothing_external_to_call() -> None:
    provider: SigningProvider = InProductSigning()
    document = SigningDocument(document_id="d1", title="Agreement", sha256="0" * 64)
    parties = [SigningParty("Medical director", "Dana", "dana@example.com", "Whitfield PLLC")]
    request = await provider.request_signatures(document, parties)
    assert request.provider == provider.name == "mdmatch"
    assert request.external_id is None
    assert request.parties == tuple(parties)
    assert await provider.status(request) == ProviderStatus()
