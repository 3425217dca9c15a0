"""Compliance documents go to the test's S3 server (moto, a process of its own), from the API
and from jobs alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from app.credentials.storage import ObjectStore
from app.jobs.runtime import get_runtime


@pytest.fixture
def document_store(bound_app: FastAPI, store: ObjectStore) -> Iterator[ObjectStore]:
    runtime = get_runtime()
    previous = getattr(bound_app.state, "object_store", None)
    bound_app.state.object_store = store
    runtime.object_store = store
    try:
        yield store
    finally:
        bound_app.state.object_store = previous
        runtime.object_store = None
