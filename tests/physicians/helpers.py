"""Building physicians through the API, as a physician would."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import httpx

from app.kit.clock import today
from app.physicians.npi import make_npi
from tests.factories import user_headers

_npis = itertools.count(100_000_001)


def new_npi() -> str:
    return make_npi(f"{next(_npis):09d}")


def profile_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "npi": new_npi(),
        "first_name": "Maya",
        "last_name": "Alvarez",
        "degree": "MD",
        "specialties": ["dermatology"],
        "years_experience": 14,
        "aesthetic_years": 9,
        "services": ["neurotoxins", "dermal_fillers", "laser_hair_removal"],
        "engagement_models": ["retainer", "fractional"],
        "oversight_modes": ["remote", "hybrid"],
        "home_zip": "78701",
        "travel_radius_miles": 60,
        "max_clinics": 5,
        "max_supervisees": 20,
        "min_monthly_rate_cents": 60000,
        "accepting_new": True,
    }
    body.update(overrides)
    return body


# A number of each state's shape (app/physicians/license_formats.py); others any board-like one.
_LICENSE_NUMBERS = {"TX": "N5521", "FL": "ME55221", "CA": "A55221", "NY": "055221", "AZ": "55221"}


def license_number(state: str) -> str:
    return _LICENSE_NUMBERS.get(state, f"{state}-55{len(state)}21")


def in_days(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


async def create_physician(
    client: httpx.AsyncClient,
    *,
    licenses: tuple[str, ...] = ("TX",),
    malpractice: bool = True,
    **overrides: Any,
) -> tuple[dict[str, str], dict[str, Any]]:
    """A physician account with a profile and credentials; returns (headers, profile)."""
    headers = await user_headers(client, "physician")
    response = await client.post("/v1/physicians", json=profile_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    for state in licenses:
        r = await client.post(
            "/v1/physicians/me/licenses",
            json={
                "state": state,
                "number": license_number(state),
                "expires_on": in_days(400),
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
    if malpractice:
        r = await client.post(
            "/v1/physicians/me/malpractice",
            json={
                "carrier": "The Doctors Company",
                "policy_number": "TDC-88213",
                "per_claim_cents": 100_000_000,
                "aggregate_cents": 300_000_000,
                "expires_on": in_days(300),
            },
            headers=headers,
        )
        assert r.status_code == 201, r.text
    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    return headers, profile
