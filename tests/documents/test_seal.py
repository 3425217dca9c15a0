"""The platform's seal (app/documents/seal.py): sealing, re-checking a seal on good and bad
files, and where the seal's key comes from. Pure: no database, no network."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
import typst
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import read_certification_data
from pypdf import PdfReader, PdfWriter

from app.config import Environment, Settings
from app.documents import seal
from app.documents.seal import (
    SEAL_FIELD,
    SealConfigurationError,
    SealError,
    SealIdentity,
    clear_seal_cache,
    seal_identity,
    seal_pdf,
    verify_pdf,
)

TITLE = "Seal test"


@pytest.fixture(scope="module")
def unsigned_pdf() -> bytes:
    pdf = typst.compile(
        f'#set document(title: "{TITLE}")\n= Hello\n\nOne page to seal.'.encode(),
        ignore_system_fonts=True,
    )
    assert isinstance(pdf, bytes)
    return pdf


@pytest.fixture(scope="module")
def identity() -> SealIdentity:
    return seal_identity(Settings(_env_file=None, environment="test"))


@pytest.fixture(scope="module")
def other_identity() -> SealIdentity:
    key, cert = _self_signed("mdmatch document seal (local)")
    return seal_identity(_configured(key, [cert]))


@pytest.fixture
async def sealed_pdf(unsigned_pdf: bytes, identity: SealIdentity) -> bytes:
    return await seal_pdf(
        unsigned_pdf, identity, reason="Executed by all parties", document_id="d1"
    )


# --- Sealing and verifying ----------------------------------------------------------------------


async def test_a_sealed_pdf_verifies_as_sealed_unaltered_and_trusted(
    sealed_pdf: bytes, identity: SealIdentity
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    report = await verify_pdf(sealed_pdf, identity)
    assert report.sealed
    assert report.intact
    assert report.valid
    assert report.trusted
    assert report.covers_whole_file
    assert not report.modified_after_seal
    assert report.ok
    assert report.certificate_fingerprint == identity.fingerprint_sha256
    assert report.signer_subject == identity.subject
    assert report.signed_at is not None
    assert report.signed_at.tzinfo is not None
    assert report.signed_at.utcoffset() == timedelta(0)
    assert before - timedelta(minutes=5) <= report.signed_at <= datetime.now(UTC)
    assert report.summary.startswith("Sealed by mdmatch on ")
    assert report.summary.endswith("UTC and unaltered since.")


async def test_the_seal_certifies_with_no_changes_allowed_and_names_reason_and_location(
    sealed_pdf: bytes,
) -> None:
    reader = PdfFileReader(BytesIO(sealed_pdf))
    [sig] = reader.embedded_signatures
    assert sig.field_name == SEAL_FIELD
    assert sig.sig_object["/Location"] == "mdmatch"
    assert sig.sig_object["/Reason"] == "Executed by all parties (mdmatch document d1)"
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES
    certification = read_certification_data(reader)
    assert certification is not None
    assert certification.permission is MDPPerm.NO_CHANGES
    # The original page is still there, untouched.
    assert len(PdfReader(BytesIO(sealed_pdf)).pages) == 1


async def test_a_byte_changed_inside_the_sealed_range_breaks_the_seal(
    sealed_pdf: bytes, identity: SealIdentity
) -> None:
    at = sealed_pdf.index(TITLE.encode())
    tampered = sealed_pdf[:at] + b"Zeal test" + sealed_pdf[at + len(TITLE) :]
    report = await verify_pdf(tampered, identity)
    assert report.sealed
    assert not report.intact
    assert not report.valid
    assert not report.ok
    assert report.summary.startswith("The document was changed after it was sealed")


async def test_an_incremental_update_after_the_seal_is_reported(
    sealed_pdf: bytes, identity: SealIdentity
) -> None:
    writer = IncrementalPdfFileWriter(BytesIO(sealed_pdf))
    writer.root["/Injected"] = generic.NameObject("/Yes")
    writer.update_root()
    out = BytesIO()
    writer.write(out)

    report = await verify_pdf(out.getvalue(), identity)
    assert report.sealed
    assert report.intact  # the sealed revision itself is unchanged...
    assert report.trusted
    assert not report.covers_whole_file  # ...but the file is more than it
    assert report.modified_after_seal
    assert not report.ok
    assert "changed after it was sealed" in report.summary


async def test_a_pypdf_resave_is_not_the_sealed_file(
    sealed_pdf: bytes, identity: SealIdentity
) -> None:
    writer = PdfWriter(clone_from=PdfReader(BytesIO(sealed_pdf)))
    writer.add_metadata({"/Title": "Edited"})
    out = BytesIO()
    writer.write(out)

    report = await verify_pdf(out.getvalue(), identity)
    assert report.sealed
    assert not report.intact
    assert not report.ok
    assert report.summary.startswith("The document was changed after it was sealed")


async def test_a_page_added_by_pypdf_after_the_seal_is_reported(
    sealed_pdf: bytes, identity: SealIdentity
) -> None:
    writer = PdfWriter(BytesIO(sealed_pdf), incremental=True)
    writer.add_blank_page()
    out = BytesIO()
    writer.write(out)
    assert out.getvalue().startswith(sealed_pdf)

    report = await verify_pdf(out.getvalue(), identity)
    assert report.intact
    assert report.trusted
    assert not report.covers_whole_file
    assert report.modified_after_seal
    assert not report.ok


async def test_bytes_appended_after_the_seal_are_reported(
    sealed_pdf: bytes, identity: SealIdentity
) -> None:
    report = await verify_pdf(sealed_pdf + b"\n% appended later\n", identity)
    assert report.sealed
    assert report.intact
    assert report.trusted
    assert not report.covers_whole_file
    assert not report.modified_after_seal
    assert not report.ok
    assert "data was added to the file after it was sealed" in report.summary


async def test_a_pdf_sealed_with_another_key_is_valid_but_not_trusted(
    unsigned_pdf: bytes, identity: SealIdentity, other_identity: SealIdentity
) -> None:
    # Same subject as the platform's local seal: only the certificate itself makes a seal ours.
    assert other_identity.subject == identity.subject
    foreign = await seal_pdf(unsigned_pdf, other_identity, reason="x", document_id="d1")
    report = await verify_pdf(foreign, identity)
    assert report.sealed
    assert report.intact
    assert report.valid
    assert not report.trusted
    assert report.certificate_fingerprint == other_identity.fingerprint_sha256
    assert "not mdmatch's seal certificate" in report.summary
    # The earlier seal's certificate can still be trusted explicitly (after a rotation).
    again = await verify_pdf(foreign, identity, also_trusted=[other_identity.certificate])
    assert again.ok


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not a pdf at all", b"%PDF-1.7\n", b"%PDF-1.7\n" + os.urandom(2048), b"\x00" * 100],
)
async def test_garbage_is_not_sealed_and_does_not_raise(
    garbage: bytes, identity: SealIdentity
) -> None:
    report = await verify_pdf(garbage, identity)
    assert not report.sealed
    assert not report.ok
    assert report.signed_at is None
    assert "no mdmatch seal" in report.summary


async def test_an_unsigned_pdf_is_not_sealed(unsigned_pdf: bytes, identity: SealIdentity) -> None:
    report = await verify_pdf(unsigned_pdf, identity)
    assert not report.sealed
    assert report.summary == "No mdmatch seal: the PDF carries no digital signature."


async def test_a_truncated_or_damaged_seal_does_not_raise(
    sealed_pdf: bytes, identity: SealIdentity
) -> None:
    for cut in (len(sealed_pdf) // 2, len(sealed_pdf) - 40):
        report = await verify_pdf(sealed_pdf[:cut], identity)
        assert not report.ok
    # Damage the signature itself (a hex digit of /Contents, inside the CMS structure).
    at = sealed_pdf.index(b"/Contents <") + len(b"/Contents <") + 40
    digit = b"0" if sealed_pdf[at : at + 1] != b"0" else b"1"
    report = await verify_pdf(sealed_pdf[:at] + digit + sealed_pdf[at + 1 :], identity)
    assert report.sealed
    assert not report.ok


async def test_sealing_what_is_not_a_pdf_raises_seal_error(identity: SealIdentity) -> None:
    with pytest.raises(SealError):
        await seal_pdf(b"not a pdf", identity, reason="x", document_id="d1")


# --- Where the seal comes from ------------------------------------------------------------------


async def test_the_configured_key_and_certificate_seal(unsigned_pdf: bytes) -> None:
    key, cert = _self_signed("mdmatch document seal", key=rsa.generate_private_key(65537, 2048))
    settings = _configured(key, [cert])
    identity = seal_identity(settings)
    assert not identity.generated
    assert identity.certificate == cert
    assert identity.fingerprint_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    assert identity.subject == "CN=mdmatch document seal,O=mdmatch"
    # Parsed once per key and certificate.
    assert seal_identity(_configured(key, [cert])) is identity

    sealed = await seal_pdf(unsigned_pdf, identity, reason="Executed", document_id="d2")
    assert (await verify_pdf(sealed, identity)).ok


async def test_a_ca_issued_seal_trusts_its_own_certificate_not_its_issuer(
    unsigned_pdf: bytes,
) -> None:
    ca_key, ca_cert = _self_signed("Example document-signing CA", ca=True)
    key, leaf = _self_signed("mdmatch, Inc. document seal", issuer=(ca_key, ca_cert))
    identity = seal_identity(_configured(key, [leaf, ca_cert]))
    assert identity.certificates == (leaf, ca_cert)
    sealed = await seal_pdf(unsigned_pdf, identity, reason="Executed", document_id="d3")
    assert (await verify_pdf(sealed, identity)).ok

    # Someone else with a certificate from the same CA does not make an mdmatch seal.
    other_key, other_leaf = _self_signed("Someone else", issuer=(ca_key, ca_cert))
    other = seal_identity(_configured(other_key, [other_leaf, ca_cert]))
    foreign = await seal_pdf(unsigned_pdf, other, reason="Executed", document_id="d3")
    report = await verify_pdf(foreign, identity)
    assert report.valid
    assert not report.trusted


def test_a_key_that_does_not_match_the_certificate_is_refused() -> None:
    _key, cert = _self_signed("mdmatch document seal")
    other_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(SealConfigurationError, match="DOCUMENT_SEAL_KEY does not match"):
        seal_identity(_configured(other_key, [cert]))


@pytest.mark.parametrize(
    ("key_pem", "cert_pem", "message"),
    [
        (
            "-----BEGIN PRIVATE KEY-----\nbad\n-----END PRIVATE KEY-----\n",
            None,
            "DOCUMENT_SEAL_KEY",
        ),
        (None, "not a certificate", "DOCUMENT_SEAL_CERT is not a PEM certificate"),
    ],
)
def test_unreadable_settings_are_refused_naming_the_variable(
    key_pem: str | None, cert_pem: str | None, message: str
) -> None:
    key, cert = _self_signed("mdmatch document seal")
    settings = Settings(
        _env_file=None,
        environment="test",
        document_seal_key=SecretStr(key_pem) if key_pem else _key_pem(key),
        document_seal_cert=cert_pem or cert.public_bytes(serialization.Encoding.PEM).decode(),
    )
    with pytest.raises(SealConfigurationError, match=message):
        seal_identity(settings)


def test_an_encrypted_key_is_refused() -> None:
    key, cert = _self_signed("mdmatch document seal")
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    settings = Settings(
        _env_file=None,
        environment="test",
        document_seal_key=SecretStr(encrypted),
        document_seal_cert=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )
    with pytest.raises(SealConfigurationError, match="unencrypted PEM private key"):
        seal_identity(settings)


def test_only_one_of_key_and_certificate_is_refused() -> None:
    key, cert = _self_signed("mdmatch document seal")
    only_cert = Settings(
        _env_file=None,
        environment="test",
        document_seal_cert=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )
    with pytest.raises(SealConfigurationError, match="must be set together"):
        seal_identity(only_cert)
    only_key = Settings(_env_file=None, environment="test", document_seal_key=_key_pem(key))
    with pytest.raises(SealConfigurationError, match="must be set together"):
        seal_identity(only_key)


def test_an_expired_or_future_certificate_is_refused() -> None:
    now = datetime.now(UTC)
    key, expired = _self_signed(
        "old seal", not_before=now - timedelta(days=400), not_after=now - timedelta(days=1)
    )
    with pytest.raises(SealConfigurationError, match="DOCUMENT_SEAL_CERT: the certificate expired"):
        seal_identity(_configured(key, [expired]))
    key, future = _self_signed("new seal", not_before=now + timedelta(days=1))
    with pytest.raises(SealConfigurationError, match=r"DOCUMENT_SEAL_CERT: .* not valid before"):
        seal_identity(_configured(key, [future]))


def test_a_certificate_that_may_not_sign_is_refused() -> None:
    key, cert = _self_signed("encryption only", signing=False)
    with pytest.raises(SealConfigurationError, match="does not allow signing"):
        seal_identity(_configured(key, [cert]))


def test_production_without_a_seal_is_refused() -> None:
    settings = Settings.model_construct(environment=Environment.production)
    with pytest.raises(SealConfigurationError, match="must be set in production"):
        seal_identity(settings)


def test_tests_get_one_generated_seal_per_process() -> None:
    settings = Settings(_env_file=None, environment="test")
    first = seal_identity(settings)
    assert first.generated
    assert first.subject == "CN=mdmatch document seal (local),O=mdmatch"
    assert seal_identity(settings) is first


def test_local_mode_keeps_its_seal_under_the_state_dir(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, environment="local", local_state_dir=tmp_path)
    first = seal_identity(settings)
    directory = tmp_path / "document-seal"
    key_file = directory / "key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (directory / "cert.pem").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["document-seal"]  # no draft left behind

    clear_seal_cache()
    second = seal_identity(settings)
    assert second is not first
    assert second.certificate == first.certificate
    assert second.fingerprint_sha256 == first.fingerprint_sha256
    assert second.generated


def test_processes_making_the_local_seal_at_once_agree_on_one(tmp_path: Path) -> None:
    directory = tmp_path / "document-seal"
    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(lambda _: seal._stored_local_seal(directory), range(8)))
    assert len({identity.fingerprint_sha256 for identity in made}) == 1
    assert sorted(p.name for p in directory.iterdir()) == ["cert.pem", "key.pem"]
    assert [p.name for p in tmp_path.iterdir()] == ["document-seal"]


def test_a_damaged_local_seal_names_its_directory(tmp_path: Path) -> None:
    directory = tmp_path / "document-seal"
    directory.mkdir()
    (directory / "key.pem").write_text("half a key")
    settings = Settings(_env_file=None, environment="local", local_state_dir=tmp_path)
    clear_seal_cache()
    with pytest.raises(SealConfigurationError, match="delete it to make a new one"):
        seal_identity(settings)


# --- Helpers ------------------------------------------------------------------------------------


def _self_signed(
    common_name: str,
    *,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    ca: bool = False,
    signing: bool = True,
    issuer: tuple[ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, x509.Certificate] | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A key and a certificate for it: self-signed, or issued by `issuer` (key, certificate)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mdmatch"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    issuer_key, issuer_name = (key, name) if issuer is None else (issuer[0], issuer[1].subject)
    now = datetime.now(UTC)
    not_before = not_before or now - timedelta(hours=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after or not_before + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca or issuer is None, path_length=None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=signing,
                content_commitment=signing,
                key_encipherment=not signing,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca or issuer is None,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(issuer_key, hashes.SHA256())
    )
    return key, cert


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> SecretStr:
    return SecretStr(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


def _configured(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, chain: list[x509.Certificate]
) -> Settings:
    return Settings(
        _env_file=None,
        environment="test",
        document_seal_key=_key_pem(key),
        document_seal_cert="".join(
            cert.public_bytes(serialization.Encoding.PEM).decode() for cert in chain
        ),
    )
