from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.nppes import FakeNppes


@pytest.fixture
async def nppes(app) -> AsyncIterator[FakeNppes]:
    """The app's NPPES client pointed at a faithful fake of the registry."""
    fake = FakeNppes()
    original = app.state.nppes
    app.state.nppes = fake.client()
    try:
        yield fake
    finally:
        await app.state.nppes.aclose()
        app.state.nppes = original
