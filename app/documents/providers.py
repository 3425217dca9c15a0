"""Where the parties' signatures are collected, behind one small interface.

Today that is mdmatch itself (`InProductSigning`): a party signs through mdmatch's API while
logged in, and the API records the signature (consent, intent, time, IP, the hash of the exact
PDF shown) as it happens. There is nothing external to ask, so the provider's methods are
trivial; the records in mdmatch's database are the status.

A provider that collects signatures elsewhere would sit behind the same interface. A DocuSign
one, for instance, not written (no network here), would work with the eSignature REST API:

- `request_signatures` creates an envelope (`POST /v2.1/accounts/{accountId}/envelopes`) with the
  unsigned PDF as its document and one signer recipient per party (a `clientUserId` for
  embedded signing, where mdmatch asks for a recipient view URL per signing session, or none for
  DocuSign's own e-mail), status "sent"; the envelope id is the request's `external_id`.
- DocuSign Connect posts envelope and recipient events (HMAC-signed) to a webhook; the webhook
  only notes that something changed and `status` then reads the envelope's recipients
  (`GET .../envelopes/{envelopeId}/recipients`): who signed or declined, and when. Polling
  `status` is the fallback when an event is lost.
- DocuSign seals the signed PDF with its own certificate and keeps its own evidence (the
  certificate of completion), so signatures it returns are DocuSign's records, not mdmatch's
  `SignatureRecord`s: the executed copy would be DocuSign's combined PDF, not
  `execution.finalize`'s. That is why the interface stops at requesting and reporting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class SigningDocument:
    """The document to sign: the exact unsigned PDF's id, title and SHA-256."""

    document_id: str
    title: str
    sha256: str


@dataclass(frozen=True)
class SigningParty:
    role: str  # "Medical director", "Clinic (owner)", ...
    name: str
    email: str
    on_behalf_of: str


@dataclass(frozen=True)
class SignatureRequest:
    """A request to sign, as the provider knows it."""

    provider: str
    document_id: str
    # The provider's own handle (a DocuSign envelope id); None when the provider is mdmatch.
    external_id: str | None
    parties: tuple[SigningParty, ...]


@dataclass(frozen=True)
class ProviderSignature:
    """A party the provider reports as having signed (or declined)."""

    role: str
    email: str
    signed_at: datetime | None
    declined: bool = False


@dataclass(frozen=True)
class ProviderStatus:
    """What the provider knows beyond mdmatch's own records: for `InProductSigning` nothing,
    since its signatures are recorded in mdmatch as they happen."""

    signatures: tuple[ProviderSignature, ...] = ()
    completed: bool = False
    voided: bool = False


class SigningProvider(Protocol):
    """Where signatures are collected."""

    @property
    def name(self) -> str: ...

    async def request_signatures(
        self, document: SigningDocument, parties: Sequence[SigningParty]
    ) -> SignatureRequest:
        """Ask the parties to sign `document`."""
        ...

    async def status(self, request: SignatureRequest) -> ProviderStatus:
        """What the provider holds for `request` that mdmatch has not recorded itself."""
        ...


class InProductSigning:
    """Signatures are made through mdmatch's own API: nothing to send, nothing to ask."""

    name = "mdmatch"

    async def request_signatures(
        self, document: SigningDocument, parties: Sequence[SigningParty]
    ) -> SignatureRequest:
        return SignatureRequest(
            provider=self.name,
            document_id=document.document_id,
            external_id=None,
            parties=tuple(parties),
        )

    async def status(self, request: SignatureRequest) -> ProviderStatus:
        return ProviderStatus()
