from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from app.kit.clock import today

ZIPS = {
    "TX": "78701",
    "CA": "90210",
    "NY": "10001",
    "FL": "33131",
    "AK": "99501",
    "MD": "21201",
    "TN": "37203",
}


def clinic_body(states: tuple[str, ...] = ("TX",), **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "legal_name": "Glow Aesthetics PLLC",
        "ownership_model": "physician_owned",
        "contact": {
            "name": "Dana Reyes",
            "email": "dana@glowaesthetics.com",
            "phone": "+1 512 555 0142",
        },
        "locations": [
            {
                "address": f"{100 + i} Congress Ave",
                "city": "Austin" if s == "TX" else "City",
                "state": s,
                "zip": ZIPS[s],
            }
            for i, s in enumerate(states)
        ],
    }
    body.update(overrides)
    return body


def intake_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "services": ["neurotoxins"],
        "providers": [{"type": "rn", "count": 1}],
        "engagement_model": "retainer",
        "oversight_mode": "remote",
        "billing_interval": "month",
        "monthly_patient_volume": 150,
        "desired_start": (today() + timedelta(days=14)).isoformat(),
        "rush": False,
    }
    body.update(overrides)
    return body


async def create_clinic(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    states: tuple[str, ...] = ("TX",),
    **overrides: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/v1/clinics", json=clinic_body(states, **overrides), headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def create_intake(
    client: httpx.AsyncClient, headers: dict[str, str], clinic_id: str, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/v1/clinics/{clinic_id}/intakes", json=intake_body(**overrides), headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())
