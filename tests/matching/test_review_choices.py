"""A clinic that reviews up to three physicians who accepted, then confirms one:
acceptances are held, the group closes when full, the others are released and told."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.kit.clock import travel
from app.matching import jobs
from app.matching.models import Match, Offer
from app.notifications.models import Notification
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import user_headers
from tests.matching.helpers import make_physician, physician_headers

PROBLEMS = "https://mdmatch.dev/problems/"


async def reviewing_intake(client, admin, choices):
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    intake = await create_intake(client, admin, clinic["id"], review_choices=choices)
    assert intake["review_choices"] == choices
    submitted = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert submitted.status_code == 200, submitted.text
    return submitted.json()


async def doctors_with_offers(client, session, settings, n):
    docs = [
        await make_physician(session, aesthetic_years=12 - i, last_name=f"Rev{i}") for i in range(n)
    ]
    out = []
    for d in docs:
        h = await physician_headers(client, session, settings, d)
        offers = (await client.get("/v1/physicians/me/offers", headers=h)).json()["items"]
        out.append((d, h, offers[0] if offers else None))
    return out


async def matches(client, admin, intake_id):
    return (await client.get(f"/v1/intakes/{intake_id}/matches", headers=admin)).json()["items"]


async def kinds_for(session, user_id):
    return set(
        await session.scalars(select(Notification.kind).where(Notification.user_id == user_id))
    )


async def test_three_accept_the_clinic_confirms_one_and_the_others_are_released(
    client, session, settings
):
    admin = await user_headers(client, "clinic_admin")
    docs = [
        await make_physician(session, aesthetic_years=12 - i, last_name=f"Rev{i}") for i in range(4)
    ]
    intake = await reviewing_intake(client, admin, 3)
    heads = [await physician_headers(client, session, settings, d) for d in docs]
    offers = [
        (await client.get("/v1/physicians/me/offers", headers=h)).json()["items"] for h in heads
    ]
    assert [len(o) for o in offers] == [1, 1, 1, 0]  # three offered, the fourth waits
    assert offers[0][0]["clinic_reviews"] == 3
    assert offers[0][0]["hold_until"] is None

    first = await client.post(f"/v1/offers/{offers[0][0]['id']}/accept", headers=heads[0])
    assert first.status_code == 200
    assert first.json()["hold_until"] is not None
    state = (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()["status"]
    assert state == "matched"
    # The other offers stay open: the clinic asked to choose among up to three.
    assert (await client.get("/v1/physicians/me/offers", headers=heads[1])).json()["items"][0][
        "status"
    ] == "pending"
    # Confirming now, with one acceptance, is allowed (the clinic need not wait for three);
    # here it waits.
    assert (
        await client.post(f"/v1/offers/{offers[1][0]['id']}/accept", headers=heads[1])
    ).status_code == 200
    assert (
        await client.post(f"/v1/offers/{offers[2][0]['id']}/accept", headers=heads[2])
    ).status_code == 200
    admin_user = await session.scalar(
        select(Notification.user_id).where(Notification.kind == "intake.accepted_again")
    )
    assert admin_user is not None
    # Full: the fourth candidate is never asked.
    assert (await client.get("/v1/physicians/me/offers", headers=heads[3])).json()["items"] == []

    listed = await matches(client, admin, intake["id"])
    accepted = [m for m in listed if m["status"] == "accepted"]
    assert len(accepted) == 3
    assert all(m["hold_until"] for m in accepted)
    assert all(m["physician"]["anonymized"] for m in accepted)  # still anonymous cards
    await with_slots(session, intake["id"], [1, 2, 3])

    unchosen = await client.post(f"/v1/intakes/{intake['id']}/confirm", headers=admin)
    assert unchosen.status_code == 422
    assert "3 physicians accepted" in unchosen.text

    pick = accepted[1]
    confirmed = await client.post(
        f"/v1/intakes/{intake['id']}/confirm", json={"match_id": pick["match_id"]}, headers=admin
    )
    assert confirmed.status_code == 201, confirmed.text
    chosen = await session.get(Match, pick["match_id"])
    await session.refresh(chosen)
    assert [d["physician_id"] for d in confirmed.json()["directors"]] == [str(chosen.physician_id)]
    rows = (
        await session.execute(
            select(Match.physician_id, Match.status).where(Match.intake_id == intake["id"])
        )
    ).all()
    statuses = dict(rows)
    assert statuses[chosen.physician_id] == "confirmed"
    others = [d for d in docs[:3] if d.id != chosen.physician_id]
    for d in others:
        assert statuses[d.id] == "withdrawn"
        offer_status = await session.scalar(
            select(Offer.status).where(Offer.intake_id == intake["id"], Offer.physician_id == d.id)
        )
        assert offer_status == "withdrawn"
        assert "offer.not_chosen" in await kinds_for(session, d.user_id)
    assert "offer.not_chosen" not in await kinds_for(session, chosen.physician_id)


async def with_slots(session, intake_id, expected):
    slots = sorted(
        await session.scalars(
            select(Match.hold_slot).where(Match.intake_id == intake_id, Match.status == "accepted")
        )
    )
    assert slots == expected


async def test_the_group_closes_when_full_and_a_late_accept_is_refused(client, session, settings):
    admin = await user_headers(client, "clinic_admin")
    docs = [
        await make_physician(session, aesthetic_years=12 - i, last_name=f"Full{i}")
        for i in range(3)
    ]
    intake = await reviewing_intake(client, admin, 2)
    heads = [await physician_headers(client, session, settings, d) for d in docs]
    offers = [
        (await client.get("/v1/physicians/me/offers", headers=h)).json()["items"][0] for h in heads
    ]
    for i in (0, 1):
        r = await client.post(f"/v1/offers/{offers[i]['id']}/accept", headers=heads[i])
        assert r.status_code == 200
    late = await client.post(f"/v1/offers/{offers[2]['id']}/accept", headers=heads[2])
    assert late.status_code == 409
    assert late.json()["type"] == PROBLEMS + "offer-not-open"
    [withdrawn] = (await client.get("/v1/physicians/me/offers", headers=heads[2])).json()["items"]
    assert withdrawn["status"] == "withdrawn"
    assert "offer.withdrawn" in await kinds_for(session, docs[2].user_id)
    # Choosing both in one group is refused; a match of another intake is refused.
    both = await client.post(
        f"/v1/intakes/{intake['id']}/confirm",
        json={
            "match_ids": [
                m["match_id"]
                for m in await matches(client, admin, intake["id"])
                if m["status"] == "accepted"
            ]
        },
        headers=admin,
    )
    assert both.status_code == 422
    assert "choose one" in both.text


async def test_a_lapsed_choice_leaves_the_others_and_the_last_lapse_reopens_matching(
    client, session, settings
):
    admin = await user_headers(client, "clinic_admin")
    docs = [
        await make_physician(session, aesthetic_years=12 - i, last_name=f"Lapse{i}")
        for i in range(3)
    ]
    intake = await reviewing_intake(client, admin, 2)
    heads = [await physician_headers(client, session, settings, d) for d in docs]
    offers = [
        (await client.get("/v1/physicians/me/offers", headers=h)).json()["items"][0] for h in heads
    ]
    assert (
        await client.post(f"/v1/offers/{offers[0]['id']}/accept", headers=heads[0])
    ).status_code == 200
    window = timedelta(hours=settings.confirm_window_hours)
    with travel(timedelta(hours=10)):  # tokens expire meanwhile: log in again
        second = await physician_headers(client, session, settings, docs[1])
        assert (
            await client.post(f"/v1/offers/{offers[1]['id']}/accept", headers=second)
        ).status_code == 200
    with travel(window + timedelta(minutes=1)):
        # The first acceptance lapsed; the second still holds: the clinic still has a choice.
        assert (await jobs.sweep_offers(timestamp=0))["acceptances_lapsed"] == 1
    got = (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()
    assert got["status"] == "matched"
    listed = await matches(client, admin, intake["id"])
    assert sorted(m["status"] for m in listed) == ["accepted", "expired", "withdrawn"]
    [held] = [m for m in listed if m["status"] == "accepted"]
    with travel(window + timedelta(hours=10, minutes=1)):
        assert (await jobs.sweep_offers(timestamp=0))["acceptances_lapsed"] == 1
    got = (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()
    assert got["status"] == "matching"
    # The third physician, released when the group filled, is asked again.
    third = await physician_headers(client, session, settings, docs[2])
    pending = (
        await client.get("/v1/physicians/me/offers", params={"status": "pending"}, headers=third)
    ).json()["items"]
    assert len(pending) == 1
    assert pending[0]["id"] != offers[2]["id"]
    late = await client.post(
        f"/v1/intakes/{intake['id']}/confirm", json={"match_id": held["match_id"]}, headers=admin
    )
    assert late.status_code == 409


async def test_review_choices_are_validated(client):
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    from tests.clinics.helpers import intake_body

    for bad in (0, 4, None, "two"):
        r = await client.post(
            f"/v1/clinics/{clinic['id']}/intakes",
            json=intake_body(review_choices=bad),
            headers=admin,
        )
        assert r.status_code == 422, bad
        assert r.headers["content-type"].startswith("application/problem+json")
    intake = await create_intake(client, admin, clinic["id"])
    assert intake["review_choices"] == 1
    r = await client.patch(f"/v1/intakes/{intake['id']}", json={"review_choices": 2}, headers=admin)
    assert r.status_code == 200
    assert r.json()["review_choices"] == 2
    r = await client.patch(
        f"/v1/intakes/{intake['id']}", json={"review_choices": None}, headers=admin
    )
    assert r.status_code == 422
