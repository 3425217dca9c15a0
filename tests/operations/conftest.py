from __future__ import annotations

import pytest

from tests.billing.helpers import Emulator


@pytest.fixture
def emulator(stripe_url: str) -> Emulator:
    return Emulator(stripe_url)
