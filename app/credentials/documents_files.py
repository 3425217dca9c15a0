"""What an uploaded credential document may be, decided from its bytes alone (no I/O): the type
sniffed from its first bytes (PDF, PNG, JPEG), agreement with the declared content type, a
pragmatic refusal of PDFs with active content, and a safe file name."""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass

PDF, PNG, JPEG = "application/pdf", "image/png", "image/jpeg"
_MAGIC = ((b"%PDF-", PDF), (b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG))
_EXTENSIONS = {PDF: ("pdf",), PNG: ("png",), JPEG: ("jpg", "jpeg")}
# Common spellings of the same types, as browsers and clients declare them.
_ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "application/x-pdf": PDF}

# PDF names that run code or carry other files: JavaScript actions (`/JavaScript`, `/JS`),
# launching a program (`/Launch`), attachments (`/EmbeddedFile`, `/EmbeddedFiles`). A name ends
# at a PDF delimiter or white space.
_ACTIVE_NAME = re.compile(rb"/(JavaScript|JS|Launch|EmbeddedFiles?)(?=[\s/<>\[\]()%{}]|\Z)")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
# An object stream (PDF 1.5+) holds dictionaries compressed: they are inflated and scanned too.
_OBJSTM = re.compile(rb"\bobj\b(.{0,2000}?)\bstream\r?\n", re.DOTALL)
_INFLATE_BUDGET = 64 * 1024 * 1024


class FileRefused(ValueError):
    """Why the bytes are refused; `code` names the rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Accepted:
    content_type: str
    filename: str


def sniff(data: bytes) -> str | None:
    """The type the first bytes announce (PDF, PNG, JPEG), or None."""
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    return None


def declared_type(value: str | None) -> str:
    base = (value or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def active_pdf_content(data: bytes) -> str | None:
    """The first active-content name found in a PDF, else None: scans the file as written (with
    `#xx` escapes in names decoded) and the inflated contents of its object streams.

    A pragmatic check, not a virus scanner: a PDF whose dictionaries are hidden some other way
    (encrypted objects, unusual filters) passes it. No anti-virus engine is available offline."""
    found = _find_active(data)
    if found:
        return found
    budget = _INFLATE_BUDGET
    for match in _OBJSTM.finditer(data):
        if b"/ObjStm" not in _NAME_ESCAPE.sub(_unescape, match.group(1)):
            continue
        end = data.find(b"endstream", match.end())
        if end < 0:
            continue
        inflater = zlib.decompressobj()
        try:
            inflated = inflater.decompress(data[match.end() : end], budget + 1)
        except zlib.error:
            continue
        budget -= len(inflated)
        if budget < 0:
            return "an object stream too large to inspect"
        found = _find_active(inflated)
        if found:
            return found
    return None


def _unescape(match: re.Match[bytes]) -> bytes:
    return bytes([int(match.group(1), 16)])


def _find_active(data: bytes) -> str | None:
    match = _ACTIVE_NAME.search(_NAME_ESCAPE.sub(_unescape, data))
    return "/" + match.group(1).decode() if match else None


def safe_filename(name: str | None, content_type: str) -> str:
    """A base name of letters, digits, `.`, `-`, `_` and spaces (accents folded, anything else
    replaced), at most 120 characters, ending in an extension of the sniffed type."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", base)
    base = re.sub(r"[ _]{2,}", "_", base).strip(" ._-")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    extensions = _EXTENSIONS[content_type]
    if suffix.lower() not in extensions:
        stem = base
    stem = stem[:112].strip(" ._-") or "document"
    return f"{stem}.{suffix.lower() if suffix.lower() in extensions else extensions[0]}"


def check_file(data: bytes, *, declared: str | None, filename: str | None) -> Accepted:
    """The sniffed type and the safe name of an upload, or FileRefused saying why not."""
    if not data:
        raise FileRefused("document-empty", "The file is empty.")
    sniffed = sniff(data)
    if sniffed is None:
        raise FileRefused(
            "document-type-not-allowed",
            "Only PDF, PNG and JPEG files are accepted; this file's content is none of them.",
        )
    claimed = declared_type(declared)
    if claimed != sniffed:
        raise FileRefused(
            "document-type-mismatch",
            f"The file was sent as {claimed or 'no type'!r} but its content is {sniffed}.",
        )
    if sniffed == PDF:
        active = active_pdf_content(data)
        if active is not None:
            raise FileRefused(
                "document-active-content",
                f"The PDF contains active content ({active}: scripts, launch actions or "
                "attachments); print it to a plain PDF or upload a scan.",
            )
    return Accepted(content_type=sniffed, filename=safe_filename(filename, sniffed))
