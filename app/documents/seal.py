"""The platform's seal: a PAdES digital signature mdmatch puts on every fully signed document, so
that any PDF reader's signature panel shows the file as certified by mdmatch and unaltered since,
and so that `verify_pdf` can tell later whether a copy someone hands back is the one we issued.

The parties' own signatures are records in mdmatch (who, when, from where, with what consent;
app/documents/execution.py prints them into the document). The seal is what makes that printed
record tamper-evident: it is a certification signature (DocMDP, no changes allowed) over the
whole file, made with the key in DOCUMENT_SEAL_KEY and the certificate in DOCUMENT_SEAL_CERT.

Outside production, when those are unset, a self-signed seal is made on first use: in local
mode with a state directory it is kept under `<local_state_dir>/document-seal/` so that seals
survive a restart; otherwise (tests) it lives as long as the process. A verification trusts
only the seal's own certificate (pinned, not its issuer: a public CA issues certificates to
anyone), checked at the time the seal says it was made, since there is no timestamp authority
and a certificate's expiry must not turn yesterday's seals untrusted.

pyHanko's work (hashing, signing, parsing the PDF's revisions) is CPU-bound and synchronous:
each call runs in a worker thread (`asyncio.to_thread`), never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import structlog
from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from app.config import Environment, Settings
from app.kit import clock

log = structlog.get_logger(__name__)

# The signature field the seal goes in; verification looks for it first.
SEAL_FIELD = "mdmatch-seal"
SEAL_LOCATION = "mdmatch"
LOCAL_SEAL_SUBJECT = "mdmatch document seal (local)"
# A generated local seal's certificate lasts this long (it is remade by deleting its directory).
LOCAL_SEAL_VALIDITY = timedelta(days=3650)
_SEAL_KEY_FILE = "key.pem"
_SEAL_CERT_FILE = "cert.pem"
# A document seal is a signature over content: readers accept either key usage for it.
_KEY_USAGE = KeyUsageConstraints(
    key_usage={"digital_signature", "non_repudiation"}, match_all_key_usages=False
)
_UNCHANGED = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)
# The key types PDF signatures use.
_SealKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)
_SEAL_KEY_TYPES = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)


class SealConfigurationError(RuntimeError):
    """The seal's key or certificate is missing, unreadable or unusable; the message names the
    setting to fix."""


class SealError(RuntimeError):
    """A PDF could not be sealed (it is not a PDF pyHanko can add a revision to)."""


@dataclass(frozen=True)
class SealIdentity:
    """The key and certificate(s) that seal documents, parsed once (see `seal_identity`)."""

    signer: signers.SimpleSigner = field(repr=False)
    # The leaf certificate, then the chain that came after it in DOCUMENT_SEAL_CERT, if any.
    certificates: tuple[x509.Certificate, ...]
    # Lower-case hex SHA-256 of the leaf certificate's DER: what a reader's certificate details
    # show and what the signature page prints.
    fingerprint_sha256: str
    # The leaf's subject, RFC 4514 ("CN=mdmatch document seal (local),O=mdmatch").
    subject: str
    # A self-signed seal made outside production (not one from the settings).
    generated: bool = False

    @property
    def certificate(self) -> x509.Certificate:
        return self.certificates[0]

    @property
    def asn1_certificates(self) -> tuple[asn1_x509.Certificate, ...]:
        return tuple(_to_asn1(cert) for cert in self.certificates)


@dataclass(frozen=True)
class SealReport:
    """What a verification found. `summary` is the sentence to show a person."""

    # The file carries a PDF signature (the `mdmatch-seal` field's, else the last one).
    sealed: bool
    # The bytes the signature covers are unchanged (their digest matches the signed one).
    intact: bool
    # The signature verifies with its certificate's key over those bytes (implies intact).
    valid: bool
    # The signing certificate is the platform's seal certificate (or one of `also_trusted`),
    # valid when the seal was made.
    trusted: bool
    # The signature covers the whole file: nothing was appended after it.
    covers_whole_file: bool
    # A revision after the seal changes the document (or breaks its no-changes certification).
    modified_after_seal: bool
    signed_at: datetime | None  # UTC, as the seal states it
    signer_subject: str | None  # RFC 4514
    certificate_fingerprint: str | None  # lower-case hex SHA-256 of the signing certificate
    summary: str

    @property
    def ok(self) -> bool:
        """Sealed by mdmatch, and the file is exactly what was sealed."""
        return (
            self.sealed
            and self.intact
            and self.valid
            and self.trusted
            and self.covers_whole_file
            and not self.modified_after_seal
        )


# --- The identity ------------------------------------------------------------------------------

_cache: dict[tuple[str, ...], SealIdentity] = {}
_cache_lock = threading.Lock()


def seal_identity(settings: Settings, *, current: bool = True) -> SealIdentity:
    """The seal to use: DOCUMENT_SEAL_KEY and DOCUMENT_SEAL_CERT when set; else, outside
    production, a self-signed one (kept under `<local_state_dir>/document-seal/` in local mode
    with a state directory, made once per process otherwise). Parsed once per key and
    certificate; the certificate's validity is checked on every call, since a process may
    outlive it. `current=False` skips that check: verifying old seals needs the certificate,
    not a valid one (a seal made while it was valid stays good after it expires)."""
    key = settings.document_seal_key
    cert = settings.document_seal_cert
    if key is not None or cert:
        if key is None or not key.get_secret_value().strip() or not cert:
            raise SealConfigurationError(
                "DOCUMENT_SEAL_KEY and DOCUMENT_SEAL_CERT must be set together (the PEM private "
                "key and the PEM certificate of the document seal)"
            )
        key_pem = key.get_secret_value()
        cache_key = ("configured", hashlib.sha256(f"{key_pem}\0{cert}".encode()).hexdigest())
        identity = _cached(cache_key, lambda: _load_configured(key_pem, cert))
        if current:
            _check_current(identity.certificate, "DOCUMENT_SEAL_CERT")
        return identity
    if settings.environment is Environment.production:
        raise SealConfigurationError(
            "DOCUMENT_SEAL_KEY and DOCUMENT_SEAL_CERT must be set in production"
        )
    if settings.environment is Environment.local:
        # Kept with local mode's other state (the project's var/ unless LOCAL_STATE_DIR says
        # otherwise), so documents sealed before a restart still verify as trusted.
        directory = (settings.local_state_dir or _project_var()) / "document-seal"
        identity = _cached(("stored", str(directory)), lambda: _stored_local_seal(directory))
        if current:
            _check_current(identity.certificate, f"the local seal in {directory} (delete it)")
        return identity
    return _cached(("process",), _generated_local_seal)


def _project_var() -> Path:
    from app.migrate import project_root

    try:
        return project_root() / "var"
    except FileNotFoundError:
        return Path.cwd() / "var"


def clear_seal_cache() -> None:
    """Forget every parsed or generated seal (tests; a process whose settings changed)."""
    with _cache_lock:
        _cache.clear()


def _cached(key: tuple[str, ...], load: Callable[[], SealIdentity]) -> SealIdentity:
    with _cache_lock:
        found = _cache.get(key)
        if found is None:
            found = _cache[key] = load()
        return found


def _load_configured(key_pem: str, cert_pem: str) -> SealIdentity:
    try:
        certificates = tuple(x509.load_pem_x509_certificates(cert_pem.encode()))
    except ValueError as exc:
        raise SealConfigurationError(
            "DOCUMENT_SEAL_CERT is not a PEM certificate (the seal's certificate, then its "
            "chain, each as -----BEGIN CERTIFICATE-----)"
        ) from exc
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        # TypeError: the key is encrypted (there is no setting for a passphrase).
        raise SealConfigurationError(
            "DOCUMENT_SEAL_KEY is not an unencrypted PEM private key"
        ) from exc
    if not isinstance(key, _SEAL_KEY_TYPES):
        raise SealConfigurationError(
            "DOCUMENT_SEAL_KEY must be an RSA, EC or EdDSA key (PDF signatures use no other)"
        )
    leaf = certificates[0]
    if _spki(key.public_key()) != _spki(leaf.public_key()):
        raise SealConfigurationError(
            "DOCUMENT_SEAL_KEY does not match DOCUMENT_SEAL_CERT: the key is not the one the "
            "certificate (the first in DOCUMENT_SEAL_CERT) was issued for"
        )
    with contextlib.suppress(x509.ExtensionNotFound):
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.content_commitment):
            raise SealConfigurationError(
                "DOCUMENT_SEAL_CERT does not allow signing (its key usage has neither "
                "digitalSignature nor nonRepudiation)"
            )
    _check_current(leaf, "DOCUMENT_SEAL_CERT")
    return _identity(key, certificates, generated=False)


def _check_current(cert: x509.Certificate, name: str) -> None:
    now = clock.utcnow()
    if now < cert.not_valid_before_utc:
        raise SealConfigurationError(
            f"{name}: the certificate is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    if now >= cert.not_valid_after_utc:
        raise SealConfigurationError(
            f"{name}: the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )


def _identity(
    key: _SealKey,
    certificates: tuple[x509.Certificate, ...],
    *,
    generated: bool,
) -> SealIdentity:
    asn1_certs = [_to_asn1(cert) for cert in certificates]
    key_info = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    signer = signers.SimpleSigner(
        signing_cert=asn1_certs[0],
        signing_key=key_info,
        cert_registry=SimpleCertificateStore.from_certs(asn1_certs),  # type: ignore[no-untyped-call]
    )
    leaf = certificates[0]
    return SealIdentity(
        signer=signer,
        certificates=certificates,
        fingerprint_sha256=leaf.fingerprint(hashes.SHA256()).hex(),
        subject=leaf.subject.rfc4514_string(),
        generated=generated,
    )


def _generated_local_seal() -> SealIdentity:
    key, cert = _new_local_seal()
    return _identity(key, (cert,), generated=True)


def _new_local_seal() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mdmatch"),
            x509.NameAttribute(NameOID.COMMON_NAME, LOCAL_SEAL_SUBJECT),
        ]
    )
    # pyHanko checks certificates against the real time; the app's clock may be moved in tests.
    start = min(clock.utcnow(), datetime.now(UTC)) - timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + LOCAL_SEAL_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _stored_local_seal(directory: Path) -> SealIdentity:
    """The local seal kept in `directory` (key.pem mode 0600, cert.pem), made the first time.
    Two processes starting at once agree on one: the pair is written into a private directory
    beside it, which is renamed into place; a rename onto a directory that already holds a seal
    fails, and the loser reads the winner's."""
    if not (directory / _SEAL_KEY_FILE).exists():
        directory.parent.mkdir(parents=True, exist_ok=True)
        draft = directory.with_name(f".{directory.name}.{os.getpid()}.{secrets.token_hex(4)}")
        draft.mkdir(mode=0o700)
        try:
            key, cert = _new_local_seal()
            _write_new(
                draft / _SEAL_KEY_FILE,
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
                0o600,
            )
            _write_new(
                draft / _SEAL_CERT_FILE, cert.public_bytes(serialization.Encoding.PEM), 0o644
            )
            try:
                draft.rename(directory)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        finally:
            shutil.rmtree(draft, ignore_errors=True)
    try:
        key_pem = (directory / _SEAL_KEY_FILE).read_text()
        cert_pem = (directory / _SEAL_CERT_FILE).read_text()
        identity = _load_configured(key_pem, cert_pem)
    except (OSError, SealConfigurationError) as exc:
        raise SealConfigurationError(
            f"{directory} does not hold a usable local document seal ({exc}); delete it to make "
            "a new one"
        ) from exc
    return SealIdentity(
        signer=identity.signer,
        certificates=identity.certificates,
        fingerprint_sha256=identity.fingerprint_sha256,
        subject=identity.subject,
        generated=True,
    )


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


# --- Sealing -----------------------------------------------------------------------------------


async def seal_pdf(pdf: bytes, identity: SealIdentity, *, reason: str, document_id: str) -> bytes:
    """`pdf` with the seal added as an incremental revision: a PAdES certification signature
    (DocMDP: no changes allowed) in the field `mdmatch-seal`, with the reason (naming the
    document), the location "mdmatch" and the signing time. Raises `SealError` when `pdf` cannot
    take it (not a PDF, or already certified)."""
    return await asyncio.to_thread(
        _seal, pdf, identity, f"{reason} (mdmatch document {document_id})"
    )


def _seal(pdf: bytes, identity: SealIdentity, reason: str) -> bytes:
    meta = signers.PdfSignatureMetadata(
        field_name=SEAL_FIELD,
        reason=reason,
        location=SEAL_LOCATION,
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=MDPPerm.NO_CHANGES,
    )
    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf))
        out = signers.sign_pdf(writer, meta, signer=identity.signer)
    except Exception as exc:  # pyHanko raises many kinds for an unusable input
        raise SealError(f"the PDF could not be sealed: {exc}") from exc
    sealed: bytes = out.getvalue()
    return sealed


# --- Verification ------------------------------------------------------------------------------


async def verify_pdf(
    pdf: bytes, identity: SealIdentity, *, also_trusted: Sequence[x509.Certificate] = ()
) -> SealReport:
    """Re-check the seal on `pdf`. Never raises: anything that is not a sealed, unaltered PDF
    (garbage, a truncated file, no signature, another signer, bytes changed or appended) gets a
    report saying so. Trusted means sealed with `identity`'s certificate (or one of
    `also_trusted`: the certificates of earlier seals, after a rotation)."""
    return await asyncio.to_thread(_verify, pdf, identity, tuple(also_trusted))


def _verify(
    pdf: bytes, identity: SealIdentity, also_trusted: tuple[x509.Certificate, ...]
) -> SealReport:
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        found = reader.embedded_signatures
    except Exception:  # every way a file (or a signature's CMS structure) can fail to parse
        if b"/ByteRange" in pdf:  # every PDF signature dictionary has one
            return _damaged()
        return _unsealed("This is not a readable PDF file, so it carries no mdmatch seal.")
    if not found:
        return _unsealed("No mdmatch seal: the PDF carries no digital signature.")
    ours = [sig for sig in found if sig.field_name == SEAL_FIELD]
    sig = ours[-1] if ours else found[-1]
    pinned = (identity.certificate, *also_trusted)
    try:
        context = ValidationContext(
            trust_roots=[_to_asn1(cert) for cert in pinned],
            allow_fetching=False,
            # No timestamp authority: check the certificate at the time the seal gives, so that
            # its expiry does not turn earlier seals untrusted. The pinned certificate is what
            # makes a seal ours; forging the time needs the key.
            moment=sig.self_reported_timestamp,
        )
        status = validate_pdf_signature(sig, context, key_usage_settings=_KEY_USAGE)
    except Exception as exc:  # a damaged signature or CMS structure
        log.info("document_seal.unreadable", error=type(exc).__name__)
        return _damaged()
    signer = x509.load_der_x509_certificate(status.signing_cert.dump())
    fingerprint = signer.fingerprint(hashes.SHA256()).hex()
    signed_at = status.signer_reported_dt
    if signed_at is not None:
        signed_at = signed_at.astimezone(UTC)
    level = status.modification_level
    report = SealReport(
        sealed=True,
        intact=bool(status.intact),
        # pyHanko's `valid` covers the signed attributes only; a seal over changed bytes is not.
        valid=bool(status.valid and status.intact),
        trusted=bool(status.trusted)
        and fingerprint in {cert.fingerprint(hashes.SHA256()).hex() for cert in pinned},
        covers_whole_file=status.coverage is SignatureCoverageLevel.ENTIRE_FILE,
        modified_after_seal=(level is not None and level not in _UNCHANGED)
        or status.docmdp_ok is False,
        signed_at=signed_at,
        signer_subject=signer.subject.rfc4514_string(),
        certificate_fingerprint=fingerprint,
        summary="",
    )
    return replace(report, summary=_summary(report))


def _damaged() -> SealReport:
    return replace(
        _unsealed("The PDF carries a signature that cannot be checked: it or the file is damaged."),
        sealed=True,
    )


def _unsealed(summary: str) -> SealReport:
    return SealReport(
        sealed=False,
        intact=False,
        valid=False,
        trusted=False,
        covers_whole_file=False,
        modified_after_seal=False,
        signed_at=None,
        signer_subject=None,
        certificate_fingerprint=None,
        summary=summary,
    )


def _summary(report: SealReport) -> str:
    when = f"{report.signed_at:%Y-%m-%d %H:%M:%S} UTC" if report.signed_at else "an unknown time"
    if not report.intact:
        return (
            "The document was changed after it was sealed: the sealed bytes no longer match the "
            "seal."
        )
    if not report.valid:
        return "The seal's signature is not valid: this is not a document mdmatch sealed."
    if not report.trusted:
        return (
            f"Signed on {when} by {report.signer_subject}, which is not mdmatch's seal "
            "certificate: no mdmatch seal."
        )
    if report.modified_after_seal:
        return (
            f"Sealed by mdmatch on {when}, but the document was changed after it was sealed "
            "(a later revision alters it)."
        )
    if not report.covers_whole_file:
        return (
            f"Sealed by mdmatch on {when}; the sealed content is unaltered, but data was added "
            "to the file after it was sealed."
        )
    return f"Sealed by mdmatch on {when} and unaltered since."
