from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.devtools.nppes import NppesStandIn
from tests.physicians.credentialing import Credentialing


@pytest.fixture
async def nppes(app) -> AsyncIterator[NppesStandIn]:
    """The app's NPPES client pointed at a faithful fake of the registry."""
    fake = NppesStandIn()
    original = app.state.nppes
    app.state.nppes = fake.client()
    try:
        yield fake
    finally:
        await app.state.nppes.aclose()
        app.state.nppes = original


@pytest.fixture
def credentialing(client, session, settings, nppes, documents_config) -> Credentialing:
    """Physicians taken through identity verification, board checks and document review."""
    return Credentialing(client, session, settings, nppes, documents_config)
