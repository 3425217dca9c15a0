"""Competing claims of one NPI are settled by verification: the identity the registry confirms
holds the NPI, every other claim is rejected and reported to operations."""

from __future__ import annotations

from sqlalchemy import select

from app.notifications.models import Notification
from tests.factories import ops_headers
from tests.physicians.helpers import create_physician
from tests.physicians.test_verification import verify


async def _ops_reports(session) -> list[Notification]:
    return list(
        await session.scalars(
            select(Notification)
            .where(Notification.kind == "physician.npi_claim")
            .execution_options(populate_existing=True)
        )
    )


async def test_the_verified_identity_wins_and_the_squatter_is_flagged(
    client, session, settings, nppes
):
    ops = await ops_headers(client, session, settings)
    # A squatter claims the real doctor's NPI first, under another name.
    squatter_h, squatter = await create_physician(client, last_name="Impostor")
    real_h, real = await create_physician(client, npi=squatter["npi"], last_name="Alvarez")
    nppes.add(real["npi"], "Maya", "Alvarez")

    verified = await verify(client, ops, real["id"])
    assert verified.json()["verification_status"] == "verified", verified.text
    flagged = (await client.get("/v1/physicians/me", headers=squatter_h)).json()
    assert flagged["verification_status"] == "rejected"
    assert "verified for another physician's profile" in flagged["verification_reasons"][0]
    [report] = await _ops_reports(session)
    assert report.data == {"physician_id": squatter["id"], "holder_id": real["id"]}

    # The squatter's own verification cannot take the NPI over, and is reported again.
    again = await verify(client, ops, squatter["id"])
    assert again.json()["verification_status"] == "rejected"
    assert any("already verified" in r for r in again.json()["reasons"])
    assert len(await _ops_reports(session)) == 2
    assert (await client.get("/v1/physicians/me", headers=real_h)).json()[
        "verification_status"
    ] == "verified"


async def test_a_verified_holder_changing_its_npi_frees_the_old_one(
    client, session, settings, nppes
):
    ops = await ops_headers(client, session, settings)
    first_h, first = await create_physician(client, last_name="Alvarez")
    nppes.add(first["npi"], "Maya", "Alvarez")
    await verify(client, ops, first["id"])
    _, second = await create_physician(client, npi=first["npi"], last_name="Alvarez")
    # The first profile moves to another NPI: its old one is no longer held.
    from tests.physicians.helpers import new_npi

    moved = new_npi()
    edited = await client.patch("/v1/physicians/me", json={"npi": moved}, headers=first_h)
    assert edited.json()["verification_status"] == "pending"
    ok = await verify(client, ops, second["id"])
    assert ok.json()["verification_status"] == "verified", ok.text
