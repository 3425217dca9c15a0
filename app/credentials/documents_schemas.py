from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import ConfigDict

from app.credentials.documents_models import DocumentCredentialKind, DocumentKind, DocumentStatus
from app.kit.openapi import ResponseModel


class CredentialDocumentRead(ResponseModel):
    """An uploaded credential document: what it is, which credential it supports, its digest,
    and where operations' review stands. The bytes are fetched through `.../download`."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    physician_id: uuid.UUID
    credential_kind: DocumentCredentialKind
    credential_id: uuid.UUID
    document_kind: DocumentKind
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    status: DocumentStatus
    reason: str | None
    review_item_id: uuid.UUID | None
    uploaded_at: datetime
    decided_at: datetime | None


class DocumentLink(ResponseModel):
    """A presigned GET URL of the object store: works without a token until `expires_at`."""

    url: str
    expires_at: datetime
