from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.devtools.nppes import NppesStandIn


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
