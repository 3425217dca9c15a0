"""From submit to a confirmed engagement: offers, the cascade, the portal and confirmation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from app.kit.clock import travel, utcnow
from app.matching import jobs
from app.matching.anonymity import card_id
from app.notifications.models import Notification
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import ops_headers, user_headers
from tests.matching.helpers import make_physician, physician_headers

PROBLEMS = "https://mdmatch.dev/problems/"


@pytest.fixture
def fan_out_one(app):
    app.state.settings.match_fan_out = 1
    yield
    app.state.settings.match_fan_out = 3


async def submitted_intake(client, admin, states=("TX",), **intake):
    clinic = await create_clinic(client, admin, states, ownership_model="mso")
    created = await create_intake(client, admin, clinic["id"], **intake)
    response = await client.post(f"/v1/intakes/{created['id']}/submit", headers=admin)
    assert response.status_code == 200, response.text
    return clinic, response.json()


async def offers_of(client, headers, status=None):
    params = {"status": status} if status else {}
    return (await client.get("/v1/physicians/me/offers", params=params, headers=headers)).json()[
        "items"
    ]


async def test_submit_offers_the_best_candidates_and_explains_them(client, session, settings):
    docs = [
        await make_physician(session, aesthetic_years=y, last_name=n)
        for y, n in ((2, "Brennan"), (12, "Chen"), (6, "Dubois"), (9, "Eriksen"))
    ]
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin)
    assert intake["status"] == "matching"
    matches = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=admin)).json()[
        "items"
    ]
    assert [m["rank"] for m in matches] == [1, 2, 3, 4]
    assert [m["status"] for m in matches] == ["offered"] * 3 + ["candidate"]
    # Anonymized: a pool of four cannot hide anyone behind specialty or experience.
    card = matches[0]["physician"]
    assert (card["display_name"], card["anonymized"], card["id"]) == (
        "Physician",
        True,
        str(card_id(uuid.UUID(matches[0]["match_id"]))),
    )
    assert card["years_experience"] is card["aesthetic_years"] is card["degree"] is None
    ops = await ops_headers(client, session, settings)
    as_ops = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=ops)).json()
    assert as_ops["items"][0]["physician"]["id"] == str(docs[1].id)
    assert matches[0]["score"] >= matches[1]["score"] >= matches[2]["score"]
    factors = {f["name"]: f for f in matches[0]["explanation"]["factors"]}
    assert set(factors) == {
        "specialty_fit",
        "aesthetic_experience",
        "responsiveness",
        "spare_capacity",
        "price_fit",
    }  # nobody travels: no distance
    exact = {f["name"]: f for f in as_ops["items"][0]["explanation"]["factors"]}
    assert round(sum(f["contribution"] for f in exact.values()), 1) == round(
        as_ops["items"][0]["score"], 1
    )
    # The clinic sees the same explanation, coarsened: tenths and a whole score.
    assert matches[0]["score"] == round(as_ops["items"][0]["score"])
    for name, f in factors.items():
        assert f["contribution"] == round(exact[name]["contribution"], 1)
        assert f["value"] == round(exact[name]["value"], 1)
    assert all(m["offer_id"] for m in matches[:3])
    assert matches[3]["offer_id"] is None

    headers = await physician_headers(client, session, settings, docs[1])
    [offer] = await offers_of(client, headers)
    assert offer["status"] == "pending"
    assert offer["states"] == ["TX"]
    assert (offer["purpose"], offer["starts_on"]) == ("placement", None)
    assert offer["services"] == ["neurotoxins"]
    assert offer["monthly_payout_cents"] == 69570  # 70% of the acceptance quote
    assert offer["clinic"] is None
    note = await session.scalar(
        select(Notification).where(
            Notification.user_id == docs[1].user_id, Notification.kind == "offer.new"
        )
    )
    assert note is not None
    assert note.email_status == "pending"


async def test_accept_then_confirm_creates_the_engagement(client, session, settings):
    doc = await make_physician(session)
    admin = await user_headers(client, "clinic_admin")
    clinic, intake = await submitted_intake(client, admin)
    headers = await physician_headers(client, session, settings, doc)
    [offer] = await offers_of(client, headers)

    early = await client.post(f"/v1/intakes/{intake['id']}/confirm", headers=admin)
    assert early.status_code == 409
    assert early.json()["type"] == PROBLEMS + "no-accepted-match"

    accepted = await client.post(f"/v1/offers/{offer['id']}/accept", headers=headers)
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    assert (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()[
        "status"
    ] == "matched"
    again = await client.post(f"/v1/offers/{offer['id']}/accept", headers=headers)
    assert again.status_code == 409
    assert again.json()["type"] == PROBLEMS + "offer-not-open"

    wrong = await client.post(
        f"/v1/intakes/{intake['id']}/confirm", json={"match_id": offer["id"]}, headers=admin
    )
    assert wrong.status_code == 422
    confirmed = await client.post(f"/v1/intakes/{intake['id']}/confirm", headers=admin)
    assert confirmed.status_code == 201
    engagement = confirmed.json()
    assert engagement["status"] == "pending_payment"
    assert [d["physician_id"] for d in engagement["directors"]] == [str(doc.id)]
    assert (
        engagement["directors"][0]["monthly_payout_cents"]
        == engagement["quote"]["physician_payout_cents"]
    )
    assert (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()[
        "status"
    ] == "confirmed"

    # Now the physician sees the clinic, and the clinic sees the physician's name.
    revealed = (await client.get(f"/v1/offers/{offer['id']}", headers=headers)).json()
    assert revealed["clinic"]["legal_name"] == clinic["legal_name"]
    matches = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=admin)).json()[
        "items"
    ]
    assert matches[0]["physician"]["display_name"] == "Dr. Test Alvarez"
    assert matches[0]["status"] == "confirmed"
    for who in (admin, headers):
        got = await client.get(f"/v1/engagements/{engagement['id']}", headers=who)
        assert got.status_code == 200
    mine = (await client.get("/v1/physicians/me/engagements", headers=headers)).json()["items"]
    assert [e["id"] for e in mine] == [engagement["id"]]
    listed = (await client.get(f"/v1/clinics/{clinic['id']}/engagements", headers=admin)).json()
    assert [e["id"] for e in listed["items"]] == [engagement["id"]]


async def test_other_tenants_see_nothing(client, session, settings):
    doc = await make_physician(session)
    other_doc = await make_physician(session, last_name="Other")
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin)
    mine = await physician_headers(client, session, settings, doc)
    theirs = await physician_headers(client, session, settings, other_doc)
    [offer] = list(await offers_of(client, mine))
    assert (await client.get(f"/v1/offers/{offer['id']}", headers=theirs)).status_code == 404
    assert (
        await client.post(f"/v1/offers/{offer['id']}/accept", headers=theirs)
    ).status_code == 404
    assert (
        await client.post(
            f"/v1/offers/{offer['id']}/decline", json={"reason": "no"}, headers=theirs
        )
    ).status_code == 404
    other_admin = await user_headers(client, "clinic_admin")
    assert (
        await client.get(f"/v1/intakes/{intake['id']}/matches", headers=other_admin)
    ).status_code == 404
    assert (
        await client.post(f"/v1/intakes/{intake['id']}/confirm", headers=other_admin)
    ).status_code == 404
    assert (await client.get(f"/v1/offers/{offer['id']}", headers=admin)).status_code == 403


async def test_decline_moves_the_cascade_on(client, session, settings, fan_out_one):
    first = await make_physician(session, aesthetic_years=12, last_name="First")
    second = await make_physician(session, aesthetic_years=6, last_name="Second")
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin)
    first_h = await physician_headers(client, session, settings, first)
    second_h = await physician_headers(client, session, settings, second)
    assert await offers_of(client, second_h) == []
    [offer] = await offers_of(client, first_h)
    declined = await client.post(
        f"/v1/offers/{offer['id']}/decline", json={"reason": "Too far"}, headers=first_h
    )
    assert declined.json()["status"] == "declined"
    [next_offer] = await offers_of(client, second_h, "pending")
    assert next_offer["respond_by"] > offer["respond_by"]

    # Nobody left after the second declines: unmatched, with the reason, and ops told.
    ops = await ops_headers(client, session, settings)
    await client.post(
        f"/v1/offers/{next_offer['id']}/decline", json={"reason": "Full"}, headers=second_h
    )
    final = (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()
    assert final["status"] == "unmatched"
    assert final["matching_outcome"]["reason"] == "candidates_exhausted"
    ops_notes = (await client.get("/v1/me/notifications", headers=ops)).json()["items"]
    assert any(n["kind"] == "intake.unmatched" for n in ops_notes)
    # A physician who declined this clinic is never offered it again.
    report = (
        await client.get(
            f"/v1/intakes/{intake['id']}/diagnostics",
            params={"physician_id": str(first.id)},
            headers=ops,
        )
    ).json()
    assert [c["name"] for c in report["physician"] if not c["passed"]] == ["not_declined"]


async def test_expiry_by_the_sweeper_moves_the_cascade_on(
    client, session, settings, fan_out_one, bound_app
):
    first = await make_physician(session, aesthetic_years=12, last_name="First")
    second = await make_physician(session, aesthetic_years=6, last_name="Second")
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin, rush=True)
    first_h = await physician_headers(client, session, settings, first)
    second_h = await physician_headers(client, session, settings, second)
    [offer] = await offers_of(client, first_h)
    assert await jobs.sweep_offers(timestamp=0) == {"offers_expired": 0, "acceptances_lapsed": 0}
    with travel(timedelta(hours=2, minutes=1)):  # rush offers get 2 hours
        assert await jobs.sweep_offers(timestamp=0) == {
            "offers_expired": 1,
            "acceptances_lapsed": 0,
        }
        first_h = await physician_headers(client, session, settings, first)
        second_h = await physician_headers(client, session, settings, second)
        late = await client.post(f"/v1/offers/{offer['id']}/accept", headers=first_h)
        assert late.status_code == 409, late.json()
        [next_offer] = await offers_of(client, second_h, "pending")
        accepted = await client.post(f"/v1/offers/{next_offer['id']}/accept", headers=second_h)
        assert accepted.status_code == 200
    # The clinic never confirms: 72 hours later the acceptance lapses and matching resumes.
    with travel(timedelta(hours=2 + 73)):
        result = await jobs.sweep_offers(timestamp=0)
    assert result["acceptances_lapsed"] == 1
    after = (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()
    assert after["status"] == "unmatched"  # nobody else is left to ask
    history = (await client.get("/v1/physicians/me/offers", headers=first_h)).json()["items"]
    assert history[0]["status"] == "expired"


async def test_multi_state_clinic_gets_a_coverage_plan(client, session, settings):
    tx = await make_physician(session, states=("TX",), last_name="Texan")
    ca = await make_physician(session, states=("CA",), last_name="Californian", home_zip="90210")
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin, ("TX", "CA"))
    matches = (
        await client.get(
            f"/v1/intakes/{intake['id']}/matches",
            headers=await ops_headers(client, session, settings),
        )
    ).json()["items"]
    assert sorted((m["covers_states"], m["physician"]["id"]) for m in matches) == sorted(
        [(["CA"], str(ca.id)), (["TX"], str(tx.id))]
    )
    quote = (await client.get(f"/v1/intakes/{intake['id']}/quote", headers=admin)).json()
    tx_h = await physician_headers(client, session, settings, tx)
    ca_h = await physician_headers(client, session, settings, ca)
    [tx_offer], [ca_offer] = await offers_of(client, tx_h), await offers_of(client, ca_h)
    assert (
        tx_offer["monthly_payout_cents"] + ca_offer["monthly_payout_cents"]
        == quote["physician_payout_cents"]
    )
    await client.post(f"/v1/offers/{tx_offer['id']}/accept", headers=tx_h)
    assert (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()[
        "status"
    ] == "matching"
    await client.post(f"/v1/offers/{ca_offer['id']}/accept", headers=ca_h)
    assert (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()[
        "status"
    ] == "matched"
    engagement = (await client.post(f"/v1/intakes/{intake['id']}/confirm", headers=admin)).json()
    assert sorted(d["states"][0] for d in engagement["directors"]) == ["CA", "TX"]


async def test_one_physician_licensed_everywhere_is_preferred(client, session, settings):
    await make_physician(session, states=("TX",), aesthetic_years=15, last_name="Texan")
    both = await make_physician(session, states=("TX", "CA"), aesthetic_years=1, last_name="Both")
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin, ("TX", "CA"))
    matches = (
        await client.get(
            f"/v1/intakes/{intake['id']}/matches",
            headers=await ops_headers(client, session, settings),
        )
    ).json()["items"]
    assert [(m["covers_states"], m["physician"]["id"]) for m in matches] == [
        (["CA", "TX"], str(both.id))
    ]


async def test_too_many_pas_for_any_one_physician_is_unmatched(client, session):
    await make_physician(session, max_supervisees=100)
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin, providers=[{"type": "pa", "count": 8}])
    assert intake["status"] == "unmatched"
    assert intake["matching_outcome"]["reason"] == "needs_multiple_directors"
    details = intake["matching_outcome"]["details"]
    assert [(d["providers"], d["count"], d["cap_per_physician"], d["basis"]) for d in details] == [
        ("PAs", 8, 7, "law"),
        ("NPs and PAs together", 8, 7, "law"),
    ]
    assert all("157.0512" in d["citation"] for d in details)


async def test_withdrawing_the_intake_withdraws_its_offers(client, session, settings):
    doc = await make_physician(session)
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin)
    headers = await physician_headers(client, session, settings, doc)
    await client.post(f"/v1/intakes/{intake['id']}/withdraw", headers=admin)
    [offer] = await offers_of(client, headers)
    assert offer["status"] == "withdrawn"
    note = await session.scalar(
        select(Notification).where(
            Notification.user_id == doc.user_id, Notification.kind == "offer.withdrawn"
        )
    )
    assert note is not None
    assert note.email_status == "pending"  # an e-mail copy is queued too
    assert (
        await client.post(f"/v1/offers/{offer['id']}/accept", headers=headers)
    ).status_code == 409


async def test_capacity_is_rechecked_at_accept(client, session, settings):
    doc = await make_physician(session, max_clinics=1)
    admin = await user_headers(client, "clinic_admin")
    _, _first = await submitted_intake(client, admin)
    _, _second = await submitted_intake(client, admin)
    headers = await physician_headers(client, session, settings, doc)
    offers = await offers_of(client, headers, "pending")
    assert len(offers) == 2  # both offered while the physician had a free slot
    assert (
        await client.post(f"/v1/offers/{offers[0]['id']}/accept", headers=headers)
    ).status_code == 200
    full = await client.post(f"/v1/offers/{offers[1]['id']}/accept", headers=headers)
    assert full.status_code == 409
    assert full.json()["type"] == PROBLEMS + "capacity-exhausted"
    assert "1 of your 1 clinics" in full.json()["detail"]


async def test_stalled_intakes_for_operations(client, session, settings):
    await make_physician(session)
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin)
    ops = await ops_headers(client, session, settings)
    params = {"status": "matching", "stalled": "true"}
    assert (await client.get("/v1/intakes", params=params, headers=ops)).json()["items"] == []
    with travel(timedelta(hours=25)):
        ops = await ops_headers(client, session, settings)  # a fresh token in the future
        stalled = (await client.get("/v1/intakes", params=params, headers=ops)).json()["items"]
    assert [i["id"] for i in stalled] == [intake["id"]]
    assert (await client.get("/v1/intakes", headers=admin)).status_code == 403


async def test_outbox_sends_offer_emails(client, session, settings, outbox, bound_app):
    from app.notifications.jobs import send_emails

    doc = await make_physician(session)
    admin = await user_headers(client, "clinic_admin")
    await submitted_intake(client, admin)
    await session.commit()
    assert await send_emails(timestamp=0) >= 1
    from app.auth.models import User

    user = await session.get(User, doc.user_id)
    assert any(m.to == user.email and "offer" in m.subject.lower() for m in outbox.outbox)
    assert await send_emails(timestamp=0) == 0  # sent once


async def test_resubmitting_an_unmatched_intake_starts_a_fresh_round(client, session, settings):
    """Round 1 has one group (CA,TX) that declines; round 2 plans CA and TX separately, and
    accepting both matches the intake (the first round's groups no longer count)."""
    both = await make_physician(session, states=("TX", "CA"), last_name="Both")
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin, ("TX", "CA"))
    both_h = await physician_headers(client, session, settings, both)
    [offer] = await offers_of(client, both_h)
    declined = await client.post(
        f"/v1/offers/{offer['id']}/decline", json={"reason": "Busy"}, headers=both_h
    )
    assert declined.status_code == 200
    assert (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()[
        "status"
    ] == "unmatched"

    tx = await make_physician(session, states=("TX",), last_name="Texan")
    ca = await make_physician(session, states=("CA",), last_name="Cali", home_zip="90210")
    again = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert again.status_code == 200
    assert again.json()["status"] == "matching"
    matches = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=admin)).json()[
        "items"
    ]
    assert sorted(m["covers_states"][0] for m in matches) == ["CA", "TX"]
    for doc in (tx, ca):
        h = await physician_headers(client, session, settings, doc)
        [o] = await offers_of(client, h, "pending")
        accepted = await client.post(f"/v1/offers/{o['id']}/accept", headers=h)
        assert accepted.status_code == 200
    assert (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()[
        "status"
    ] == "matched"
    confirmed = await client.post(f"/v1/intakes/{intake['id']}/confirm", headers=admin)
    assert confirmed.status_code == 201
    assert len(confirmed.json()["directors"]) == 2


async def test_a_physician_who_lost_eligibility_cannot_accept(client, session, settings):
    doc = await make_physician(session)
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin)
    headers = await physician_headers(client, session, settings, doc)
    [offer] = await offers_of(client, headers)
    doc.verification_status = "suspended"
    await session.commit()
    refused = await client.post(f"/v1/offers/{offer['id']}/accept", headers=headers)
    assert refused.status_code == 409
    assert refused.json()["type"] == PROBLEMS + "offer-not-open"
    assert "verified credentials" in refused.json()["detail"]
    assert (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()[
        "status"
    ] == "matching"


async def test_a_lapsed_acceptance_cannot_be_confirmed_before_the_sweep(client, session, settings):
    from tests.factories import bearer, login, register

    doc = await make_physician(session)
    owner = await register(client, "clinic_admin")
    admin = bearer((await login(client, owner["email"]))["access_token"])
    _, intake = await submitted_intake(client, admin)
    headers = await physician_headers(client, session, settings, doc)
    [offer] = await offers_of(client, headers)
    assert (
        await client.post(f"/v1/offers/{offer['id']}/accept", headers=headers)
    ).status_code == 200
    with travel(timedelta(hours=73)):  # the window closed, and the sweeper has not run yet
        later = bearer((await login(client, owner["email"]))["access_token"])
        late = await client.post(f"/v1/intakes/{intake['id']}/confirm", headers=later)
    assert late.status_code == 409
    assert late.json()["type"] == PROBLEMS + "no-accepted-match"


async def test_response_statistics_are_recounted(client, session, settings, bound_app):
    from app.matching.jobs import refresh_response_stats

    first = await make_physician(session, aesthetic_years=12, last_name="First")
    admin = await user_headers(client, "clinic_admin")
    await submitted_intake(client, admin)
    first_h = await physician_headers(client, session, settings, first)
    [offer] = await offers_of(client, first_h)
    await client.post(f"/v1/offers/{offer['id']}/decline", json={"reason": "No"}, headers=first_h)
    assert await refresh_response_stats(timestamp=0) >= 1
    await session.refresh(first)
    assert (first.offers_received, first.offers_declined, first.offers_accepted) == (1, 1, 0)
    assert await refresh_response_stats(timestamp=0) == 0  # nothing changed since


async def test_a_lapsed_acceptance_gives_the_withdrawn_candidates_another_chance(
    client, session, settings, bound_app
):
    first = await make_physician(session, aesthetic_years=12, last_name="First")
    second = await make_physician(session, aesthetic_years=6, last_name="Second")
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin)
    first_h = await physician_headers(client, session, settings, first)
    [offer] = await offers_of(client, first_h)
    assert (
        await client.post(f"/v1/offers/{offer['id']}/accept", headers=first_h)
    ).status_code == 200
    second_h = await physician_headers(client, session, settings, second)
    [withdrawn] = await offers_of(client, second_h)
    assert withdrawn["status"] == "withdrawn"
    with travel(timedelta(hours=73)):
        assert (await jobs.sweep_offers(timestamp=0))["acceptances_lapsed"] == 1
        second_h = await physician_headers(client, session, settings, second)
        pending = await offers_of(client, second_h, "pending")
        assert len(pending) == 1  # asked again, with a new offer
        assert pending[0]["id"] != withdrawn["id"]
        accepted = await client.post(f"/v1/offers/{pending[0]['id']}/accept", headers=second_h)
        assert accepted.status_code == 200
    status = (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()["status"]
    assert status == "matched"
    matches = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=admin)).json()
    by_status = {m["status"] for m in matches["items"]}
    assert by_status == {"expired", "accepted"}


async def test_a_suspended_physicians_offer_goes_to_the_next_candidate(
    client, session, settings, fan_out_one, bound_app
):
    first = await make_physician(session, aesthetic_years=12, last_name="First")
    second = await make_physician(session, aesthetic_years=6, last_name="Second")
    admin = await user_headers(client, "clinic_admin")
    await submitted_intake(client, admin)
    first_h = await physician_headers(client, session, settings, first)
    second_h = await physician_headers(client, session, settings, second)
    assert len(await offers_of(client, first_h, "pending")) == 1
    first.verification_status = "suspended"
    await session.commit()
    await jobs.sweep_offers(timestamp=0)  # no need to wait 12 hours for the offer to expire
    assert (await offers_of(client, first_h))[0]["status"] == "withdrawn"
    assert len(await offers_of(client, second_h, "pending")) == 1


async def test_after_respond_by_both_accept_and_decline_are_409_before_the_sweep(
    client, session, settings
):
    doc = await make_physician(session)
    admin = await user_headers(client, "clinic_admin")
    await submitted_intake(client, admin)
    headers = await physician_headers(client, session, settings, doc)
    [offer] = await offers_of(client, headers)
    respond_by = datetime.fromisoformat(offer["respond_by"])
    with travel(respond_by - utcnow() + timedelta(seconds=1)):  # the sweeper has not run
        later = await physician_headers(client, session, settings, doc)
        for action, body in (("decline", {"reason": "too late"}), ("accept", None)):
            answer = await client.post(
                f"/v1/offers/{offer['id']}/{action}", json=body, headers=later
            )
            assert answer.status_code == 409, (action, answer.text)
            assert answer.json()["type"] == PROBLEMS + "offer-not-open"
            assert answer.json()["offer_status"] == "expired"
    [still] = await offers_of(client, headers)
    assert still["status"] == "pending"  # untouched: the sweeper will mark it expired


async def test_texas_five_nps_and_five_pas_need_two_directors(client, session):
    """The probe: Texas caps NPs and PAs together at seven; no single physician may take ten."""
    await make_physician(session, max_supervisees=100)
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(
        client,
        admin,
        providers=[{"type": "pa", "count": 5}, {"type": "np", "count": 5}],
    )
    flags = [f for f in intake["compliance_flags"] if f["code"] == "supervisee_cap_exceeded"]
    assert [f["message"].split(" exceed ")[0] for f in flags] == ["10 NPs and PAs together"]
    assert "157.0512" in flags[0]["citation"]
    assert intake["status"] == "unmatched"
    assert intake["matching_outcome"]["reason"] == "needs_multiple_directors"
    [detail] = intake["matching_outcome"]["details"]
    assert (detail["providers"], detail["count"], detail["cap_per_physician"]) == (
        "NPs and PAs together",
        10,
        7,
    )
