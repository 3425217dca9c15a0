"""Hybrid and on-site oversight state the physician's hours on site: priced, matched, checked."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from app.matching.models import Match
from app.pricing.price_book import default_price_book
from tests.clinics.helpers import create_clinic, create_intake
from tests.clinics.test_roster import add
from tests.factories import user_headers
from tests.matching.helpers import make_physician, physician_headers
from tests.pricing.test_quote_api import instant_body

HOUR = default_price_book().onsite_hour_cents


def flags(intake: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(f["code"], f["state"]): f for f in intake["compliance_flags"]}


async def test_stated_hours_are_priced_and_checked_against_the_locations(client):
    assert HOUR > 0
    hybrid = instant_body(
        oversight_mode="hybrid", onsite_hours=[{"location": 0, "hours_per_month": 8}]
    )
    quote = await client.post("/v1/quotes", json=hybrid)
    assert quote.status_code == 200, quote.text
    lines = {li["code"]: li for li in quote.json()["line_items"]}
    assert lines["onsite_hours"]["amount_cents"] == 8 * HOUR
    assert lines["onsite_hours"]["kind"] == "recurring"
    without = (await client.post("/v1/quotes", json=instant_body(oversight_mode="hybrid"))).json()
    assert without["monthly_total_cents"] == quote.json()["monthly_total_cents"] - 8 * HOUR
    assert ("onsite_hours_unstated", None) in flags(without)
    assert ("onsite_hours_unstated", None) not in flags(quote.json())

    for body, why in (
        (
            instant_body(
                oversight_mode="remote", onsite_hours=[{"location": 0, "hours_per_month": 8}]
            ),
            "remote",
        ),
        (
            instant_body(
                oversight_mode="hybrid", onsite_hours=[{"location": 1, "hours_per_month": 8}]
            ),
            "position 1",
        ),
        (
            instant_body(
                oversight_mode="onsite",
                onsite_hours=[
                    {"location": 0, "hours_per_month": 8},
                    {"location": 0, "hours_per_month": 4},
                ],
            ),
            "once",
        ),
    ):
        refused = await client.post("/v1/quotes", json=body)
        assert refused.status_code == 422, (why, refused.text)
        assert why in refused.text

    # An intake: the clinic's locations by position; switching to remote drops the hours.
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",))
    bad = await client.post(
        f"/v1/clinics/{clinic['id']}/intakes",
        json={
            **instant_body(oversight_mode="hybrid"),
            "locations": None,
            "onsite_hours": [{"location": 2, "hours_per_month": 3}],
        }
        | {"desired_start": (await create_intake(client, admin, clinic["id"]))["desired_start"]},
        headers=admin,
    )
    assert bad.status_code == 422
    intake = await create_intake(
        client,
        admin,
        clinic["id"],
        oversight_mode="hybrid",
        onsite_hours=[{"location": 0, "hours_per_month": 12}],
    )
    assert intake["onsite_hours"] == [{"location": 0, "hours_per_month": 12}]
    remote = await client.patch(
        f"/v1/intakes/{intake['id']}", json={"oversight_mode": "remote"}, headers=admin
    )
    assert remote.status_code == 200, remote.text
    assert remote.json()["onsite_hours"] == []


async def test_hybrid_hours_send_the_director_only_where_they_are_needed(client, session):
    """Austin and Miami; the physician lives in Austin and travels 100 miles. (A GLP-1
    programme: no delegated procedure, so Florida's on-site supervision rule does not send the
    director to Miami.)"""
    doctor = await make_physician(session, states=("TX", "FL"))
    admin = await user_headers(client, "clinic_admin")

    async def submitted(**intake: Any) -> dict[str, Any]:
        clinic = await create_clinic(client, admin, ("TX", "FL"), ownership_model="mso")
        created = await create_intake(
            client,
            admin,
            clinic["id"],
            oversight_mode="hybrid",
            services=["glp1_weight_loss"],
            **intake,
        )
        answer = await client.post(f"/v1/intakes/{created['id']}/submit", headers=admin)
        assert answer.status_code == 200, answer.text
        return answer.json()

    everywhere = await submitted()
    assert everywhere["status"] == "unmatched"  # Miami is beyond the travel radius
    in_austin = await submitted(onsite_hours=[{"location": 0, "hours_per_month": 10}])
    assert in_austin["status"] == "matching", [
        (s["constraint"], s["eliminated"])
        for d in in_austin["matching_outcome"]["diagnostics"]
        for s in d["funnel"]
        if s["eliminated"]
    ]
    [match] = (
        await session.scalars(select(Match).where(Match.intake_id == uuid.UUID(in_austin["id"])))
    ).all()
    assert match.physician_id == doctor.id
    names = {c["name"] for c in match.explanation["constraints"]}
    assert "travel:TX:0" in names
    assert not any(n.startswith("travel:FL") for n in names)


async def test_a_state_that_wants_a_physician_present_is_checked_against_the_hours(
    client, session, settings
):
    """Maryland requires a physician on site whenever a delegate performs a delegated
    procedure (Md. Code Regs. 10.32.09): hours elsewhere do not cover it."""
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX", "MD"), ownership_model="mso")
    maryland = clinic["locations"][1]["id"]
    await add(
        client,
        admin,
        clinic,
        type="rn",
        license_type="RN",
        license_state="MD",
        locations=[maryland],
    )
    only_texas = await create_intake(
        client,
        admin,
        clinic["id"],
        oversight_mode="hybrid",
        onsite_hours=[{"location": 0, "hours_per_month": 10}],
    )
    md = flags(only_texas)[("physician_onsite_hours", "MD")]
    assert md["severity"] == "blocking"
    assert md["citation"]
    both = await client.patch(
        f"/v1/intakes/{only_texas['id']}",
        json={
            "onsite_hours": [
                {"location": 0, "hours_per_month": 10},
                {"location": 1, "hours_per_month": 40},
            ]
        },
        headers=admin,
    )
    md = flags(both.json())[("physician_onsite_hours", "MD")]
    assert md["severity"] == "warning"
    assert "40 on-site hours" in md["message"]


async def test_the_offer_shows_the_hours_in_the_physicians_states(client, session, settings):
    doctor = await make_physician(session, states=("TX",))
    headers = await physician_headers(client, session, settings, doctor)
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    intake = await create_intake(
        client,
        admin,
        clinic["id"],
        oversight_mode="hybrid",
        onsite_hours=[{"location": 0, "hours_per_month": 16}],
    )
    await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    [offer] = (await client.get("/v1/physicians/me/offers", headers=headers)).json()["items"]
    assert offer["practice"]["oversight_mode"] == "hybrid"
    assert offer["practice"]["onsite_hours"] == [
        {"city": "Austin", "state": "TX", "hours_per_month": 16}
    ]
