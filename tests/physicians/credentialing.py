"""A physician taken through credentialing the way production does it: the profile and
credentials through the API, the identity verified against the (faked) NPPES registry, the
credentials checked at their sources (`check_credentials`: a Texas license at a faithful fake
of the Texas Medical Board at the httpx transport), and every credential still pending verified
from a document uploaded to the object store and approved by operations through the review
queue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.credentials.checking import CheckSummary, check_credentials
from app.credentials.documents import DocumentConfig
from app.devtools.nppes import NppesStandIn
from tests.credentials.test_boards import texas_fake
from tests.factories import ops_headers
from tests.physicians.helpers import create_physician

PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)

# What each credential list of the profile is, as a document upload names it.
_DOCUMENTS = {
    "licenses": ("license", "license_certificate"),
    "dea_registrations": ("dea", "dea_certificate"),
    "malpractice_policies": ("malpractice", "malpractice_coi"),
    "board_certifications": ("board_certification", "board_certificate"),
}


def board_transport(settings: Settings, profile: dict[str, str] | None) -> httpx.MockTransport:
    """The Texas Medical Board answering `profile` (None: no such license); every other board
    is down (503)."""
    texas = texas_fake(profile, [])
    tx_host = urlsplit(settings.board_tx_url).hostname

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == tx_host:
            return texas(request)
        return httpx.Response(503)

    return httpx.MockTransport(handle)


def texas_profile(doc: dict[str, Any], *, status: str = "Active", **changes: str) -> dict[str, str]:
    """The board's record of the profile's Texas license, as the board prints it."""
    [license_] = [lic for lic in doc["licenses"] if lic["state"] == "TX"]
    year, month, day = license_["expires_on"].split("-")
    profile = {
        "name": f"{doc['last_name'].upper()}, {doc['first_name'].upper()}",
        "number": license_["number"],
        "issued": "08/15/2010",
        "expires": f"{month}/{day}/{year}",
        "status": status,
        "discipline": "None",
        "action": "None",
    }
    return profile | changes


@dataclass
class Credentialing:
    client: httpx.AsyncClient
    session: AsyncSession
    settings: Settings
    nppes: NppesStandIn
    documents: DocumentConfig

    @property
    def board_settings(self) -> Settings:
        """One attempt per board request: a board that is down answers at once."""
        return self.settings.model_copy(update={"board_attempts": 1})

    async def ops(self) -> dict[str, str]:
        return await ops_headers(self.client, self.session, self.settings)

    async def verify_identity(self, **kwargs: Any) -> tuple[dict[str, str], dict[str, Any]]:
        """A physician whose identity operations verified; credentials still pending."""
        headers, doc = await create_physician(self.client, **kwargs)
        self.nppes.add(doc["npi"], doc["first_name"], doc["last_name"])
        ops = await self.ops()
        verified = await self.client.post(f"/v1/physicians/{doc['id']}/verify", headers=ops)
        assert verified.status_code == 200, verified.text
        assert verified.json()["verification_status"] == "verified", verified.text
        return headers, (await self.client.get("/v1/physicians/me", headers=headers)).json()

    async def check(
        self, physician_id: str | uuid.UUID, *, board: dict[str, str] | None = None
    ) -> CheckSummary:
        """The credentials job's work, against the faked boards."""
        return await check_credentials(
            self.session,
            uuid.UUID(str(physician_id)),
            settings=self.board_settings,
            transport=board_transport(self.settings, board),
        )

    async def upload(
        self, headers: dict[str, str], credential_kind: str, credential_id: str, document: str
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/physicians/me/credential-documents",
            data={
                "credential_kind": credential_kind,
                "credential_id": credential_id,
                "document_kind": document,
            },
            files={"file": (f"{document}.pdf", PDF, "application/pdf")},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def approve(self, review_item_id: str, reason: str = "matches the record") -> None:
        decided = await self.client.post(
            f"/v1/review-items/{review_item_id}/decision",
            json={"decision": "approve", "reason": reason},
            headers=await self.ops(),
        )
        assert decided.status_code == 200, decided.text

    async def documents_for_pending(self, headers: dict[str, str]) -> int:
        """Upload a document for every credential still pending and have operations approve
        it; returns how many."""
        doc = (await self.client.get("/v1/physicians/me", headers=headers)).json()
        count = 0
        for field, (kind, document) in _DOCUMENTS.items():
            for credential in doc.get(field, []):
                if credential["status"] != "pending":
                    continue
                uploaded = await self.upload(headers, kind, credential["id"], document)
                await self.approve(uploaded["review_item_id"])
                count += 1
        return count

    async def physician(self, **kwargs: Any) -> tuple[dict[str, str], uuid.UUID, dict[str, str]]:
        """Identity verified, the Texas license checked at the board, every other credential
        by an approved document: matchable wherever licensed. Returns (headers, id, ops)."""
        headers, doc = await self.verify_identity(**kwargs)
        texas = sum(lic["state"] == "TX" for lic in doc["licenses"])
        summary = await self.check(doc["id"], board=texas_profile(doc) if texas else None)
        # The Texas license was verified at the board itself, not by the documents below.
        assert (summary.verified, summary.failed, summary.for_review) == (texas, 0, 0), summary
        await self.documents_for_pending(headers)
        return headers, uuid.UUID(doc["id"]), await self.ops()
