"""An S3-compatible object store as a real process for the documents tests: moto's S3 server
behind the presigned-URL check of app/devtools/object_store.py, on a free loopback port, for
the whole session (like the Stripe emulator in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from app.credentials.documents import DocumentConfig
from app.credentials.documents_router import document_config
from app.credentials.storage import ObjectStore
from app.devtools.object_store import (
    LOCAL_ACCESS_KEY_ID,
    LOCAL_SECRET_ACCESS_KEY,
    create_bucket,
    object_store,
)
from app.devtools.stripe_emulator import free_port

TEST_BUCKET = "mdmatch-test-documents"
# Small, so the size limit is cheap to cross (the app's own default is 10 MB).
TEST_MAX_BYTES = 64 * 1024
TEST_URL_SECONDS = 60


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with object_store(free_port()) as endpoint:
        create_bucket(endpoint, TEST_BUCKET)
        yield endpoint


@pytest.fixture(scope="session")
def store(s3_endpoint: str) -> ObjectStore:
    return ObjectStore(
        bucket=TEST_BUCKET,
        region="us-east-1",
        endpoint_url=s3_endpoint,
        access_key_id=LOCAL_ACCESS_KEY_ID,
        secret_access_key=LOCAL_SECRET_ACCESS_KEY,
    )


@pytest.fixture
def documents_config(bound_app: FastAPI, store: ObjectStore) -> Iterator[DocumentConfig]:
    """The app's documents go to the test store, with the test limits, for this test."""
    config = DocumentConfig(store=store, max_bytes=TEST_MAX_BYTES, url_seconds=TEST_URL_SECONDS)
    bound_app.dependency_overrides[document_config] = lambda: config
    try:
        yield config
    finally:
        bound_app.dependency_overrides.pop(document_config, None)
