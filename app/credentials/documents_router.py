"""Routes of credential documents (docs/credentials.md, "Documents")."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.auth.deps import OpsUser, PhysicianUser, require_role
from app.auth.models import Role, User
from app.credentials import documents
from app.credentials.documents import DocumentConfig
from app.credentials.documents_models import DocumentCredentialKind, DocumentKind
from app.credentials.documents_schemas import CredentialDocumentRead, DocumentLink
from app.credentials.storage import ObjectStore
from app.db import SessionDep
from app.errors import problem_responses
from app.kit.idempotency import AppRoute
from app.kit.pagination import Page, PageParams, page_params
from app.physicians.service import get_own_profile, get_physician

router = APIRouter(prefix="/v1", tags=["credentials"], route_class=AppRoute)

UPLOAD_PATH = "/v1/physicians/me/credential-documents"
# The multipart envelope around the file (boundaries, part headers, the form fields).
MULTIPART_ALLOWANCE = 64 * 1024


def upload_body_limit(document_max_bytes: int) -> dict[tuple[str, str], int]:
    """The request-body cap of the upload route (the app's cap is for JSON bodies)."""
    return {("POST", UPLOAD_PATH): document_max_bytes + MULTIPART_ALLOWANCE}


PageDep = Annotated[PageParams, Depends(page_params)]
_CHUNK = 256 * 1024


def document_config(request: Request) -> DocumentConfig:
    """The object store (built once per app from its settings) and the limits."""
    settings = request.app.state.settings
    store = getattr(request.app.state, "object_store", None)
    if store is None:
        store = request.app.state.object_store = ObjectStore.from_settings(settings)
    return DocumentConfig(
        store=store,
        max_bytes=settings.document_max_bytes,
        url_seconds=settings.document_url_seconds,
    )


ConfigDep = Annotated[DocumentConfig, Depends(document_config)]
PhysicianOrOps = Annotated[User, Depends(require_role(Role.physician, Role.ops_admin))]


async def _read(file: UploadFile, max_bytes: int) -> bytes:
    """The upload's bytes, refused with 413 as soon as they pass `max_bytes`."""
    if file.size is not None and file.size > max_bytes:
        raise documents.too_large(max_bytes)
    chunks: list[bytes] = []
    total = 0
    while chunk := await file.read(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise documents.too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/physicians/me/credential-documents",
    operation_id="upload_credential_document",
    status_code=201,
    responses=problem_responses(401, 403, 404, 413, 422),
)
async def upload_document(
    user: PhysicianUser,
    session: SessionDep,
    config: ConfigDep,
    file: Annotated[UploadFile, File(description="PDF, PNG or JPEG")],
    credential_kind: Annotated[DocumentCredentialKind, Form()],
    credential_id: Annotated[uuid.UUID, Form()],
    document_kind: Annotated[DocumentKind, Form()],
) -> CredentialDocumentRead:
    """Upload a document supporting one of the caller's credentials (a license certificate, a
    DEA certificate, a malpractice certificate of insurance, a board certificate or printout).
    The type is read from the content (PDF, PNG, JPEG; the declared type must agree); PDFs with
    scripts, launch actions or attachments are refused. Operations review it."""
    physician = await get_own_profile(session, user)
    data = await _read(file, config.max_bytes)
    document = await documents.upload(
        session,
        config,
        physician,
        user,
        credential_kind=credential_kind,
        credential_id=credential_id,
        document_kind=document_kind,
        filename=file.filename,
        declared_type=file.content_type,
        data=data,
    )
    try:
        await session.commit()
    except Exception:
        # The object is in the store but its rows are not: remove it (no orphan).
        await documents.discard(config.store, document.object_key)
        raise
    return CredentialDocumentRead.model_validate(document)


@router.get(
    "/physicians/me/credential-documents",
    operation_id="my_credential_documents",
    responses=problem_responses(401, 403, 404, 422),
)
async def my_documents(
    user: PhysicianUser, session: SessionDep, page: PageDep
) -> Page[CredentialDocumentRead]:
    """The caller's credential documents, newest first."""
    physician = await get_own_profile(session, user)
    rows, cursor = await documents.list_documents(session, physician.id, page)
    return Page(items=[CredentialDocumentRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get(
    "/physicians/{physician_id}/credential-documents",
    operation_id="physician_credential_documents",
    responses=problem_responses(401, 403, 404, 422),
)
async def physician_documents(
    physician_id: uuid.UUID, user: OpsUser, session: SessionDep, page: PageDep
) -> Page[CredentialDocumentRead]:
    """Operations: a physician's credential documents, newest first."""
    physician = await get_physician(session, physician_id)
    rows, cursor = await documents.list_documents(session, physician.id, page)
    return Page(items=[CredentialDocumentRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get(
    "/credential-documents/{document_id}/download",
    operation_id="download_credential_document",
    status_code=303,
    response_class=Response,
    responses={
        303: {"description": "See Other: `Location` is a presigned GET URL of the object store"},
        200: {
            "description": "With `?redirect=false`: the URL as JSON",
            "content": {"application/json": {"schema": DocumentLink.model_json_schema()}},
        },
        **problem_responses(401, 403, 404, 422, 503),
    },
)
async def download_document(
    document_id: uuid.UUID,
    user: PhysicianOrOps,
    session: SessionDep,
    config: ConfigDep,
    redirect: Annotated[
        bool, Query(description="false: answer the URL as JSON instead of a 303")
    ] = True,
) -> Response:
    """The document's physician or operations: a 303 to a short-lived presigned URL of the
    object store (DOCUMENT_URL_SECONDS); the bytes never pass through the API. Another
    physician gets 404; clinics 403."""
    url, seconds = await documents.download_link(session, config, document_id, user)
    await session.commit()
    headers = {"Cache-Control": "no-store"}
    if not redirect:
        link = DocumentLink(url=url, expires_at=documents.link_expiry(seconds))
        return JSONResponse(link.model_dump(mode="json"), headers=headers)
    return RedirectResponse(url, status_code=303, headers=headers)
