"""Director continuity: a director resigns with notice, a replacement search starts at once,
and the clinic never has a day without a director when a replacement accepts in time."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.billing.sync import month_share
from app.engagements.continuity import coverage_on, end_due_oversight
from app.engagements.models import EngagementDirector
from app.kit.clock import today, travel
from app.notifications.models import Notification
from tests.billing.helpers import subscribed
from tests.factories import bearer, login, ops_headers, user_headers
from tests.matching.helpers import make_physician, physician_headers

NOTICE = 30


async def _offers(client, headers) -> list[dict[str, object]]:
    page = await client.get(
        "/v1/physicians/me/offers", params={"status": "pending"}, headers=headers
    )
    assert page.status_code == 200, page.text
    return page.json()["items"]


async def _kinds(session, user_id) -> list[str]:
    return list(
        await session.scalars(
            select(Notification.kind)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at)
        )
    )


async def test_resignation_with_notice_hands_over_without_a_day_uncovered(
    client, session, settings, emulator
):
    engaged, paid = await subscribed(client, session, settings, emulator)
    assert paid["status"] == "active"
    successor = await make_physician(session, last_name="Brennan")
    await session.commit()
    successor_headers = await physician_headers(client, session, settings, successor)

    too_soon = await client.post(
        f"/v1/engagements/{engaged.id}/resign",
        json={"reason": "relocating", "effective_on": str(today() + timedelta(NOTICE - 1))},
        headers=engaged.doctor,
    )
    assert too_soon.status_code == 422
    assert too_soon.json()["errors"][0]["loc"] == ["body", "effective_on"]

    leaving_on = today() + timedelta(NOTICE)
    resigned = await client.post(
        f"/v1/engagements/{engaged.id}/resign",
        json={"reason": "relocating", "effective_on": str(leaving_on)},
        headers=engaged.doctor,
    )
    assert resigned.status_code == 200, resigned.text
    body = resigned.json()
    assert body["status"] == "ending"
    [departure] = body["departures"]
    assert departure["status"] == "searching"
    assert departure["oversight_ends_on"] == str(leaving_on)
    assert departure["states"] == ["TX"]
    assert body["directors"][0]["ends_on"] == str(leaving_on)
    assert body["uncovered_states"] == []

    again = await client.post(
        f"/v1/engagements/{engaged.id}/resign",
        json={"reason": "twice", "effective_on": str(leaving_on)},
        headers=engaged.doctor,
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("/already-leaving")

    # The search started at once: the successor has the offer, the leaving director does not.
    [offer] = await _offers(client, successor_headers)
    assert await _offers(client, engaged.doctor) == []
    assert offer["monthly_payout_cents"] == body["directors"][0]["monthly_payout_cents"]
    assert (offer["purpose"], offer["starts_on"]) == ("replacement", str(leaving_on))

    accepted = await client.post(f"/v1/offers/{offer['id']}/accept", headers=successor_headers)
    assert accepted.status_code == 200, accepted.text
    after = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    assert after["status"] == "active"
    assert after["departures"][0]["status"] == "replaced"
    assert after["departures"][0]["replacement_physician_id"] == str(successor.id)
    by_physician = {d["physician_id"]: d for d in after["directors"]}
    assert by_physician[str(successor.id)]["starts_on"] == str(leaving_on)
    assert by_physician[str(engaged.physician.id)]["ends_on"] == str(leaving_on)
    # The subscription is untouched: same Stripe subscription, same price.
    assert after["stripe_subscription_id"] == paid["stripe_subscription_id"]
    assert after["quote"]["monthly_total_cents"] == paid["quote"]["monthly_total_cents"]

    # Every day from now to well past the hand-over, someone oversees Texas.
    start = today()
    for day in range(0, 2 * NOTICE):
        assert await coverage_on(session, uuid.UUID(engaged.id), start + timedelta(day)) == {
            "TX"
        }, day

    # On the date, the leaving director stops (capacity freed); no gap is reported.
    ended = await end_due_oversight(session, on=leaving_on)
    await session.commit()
    assert (ended.directors_ended, ended.gaps_opened) == (1, 0)
    with travel(timedelta(days=NOTICE)):
        admin = bearer((await login(client, engaged.admin_email))["access_token"])
        final = (await client.get(f"/v1/engagements/{engaged.id}", headers=admin)).json()
    assert [d["physician_id"] for d in final["directors"]] == [str(successor.id)]
    assert final["uncovered_states"] == []

    admin_user = (await client.get("/v1/me", headers=engaged.admin)).json()["id"]
    kinds = await _kinds(session, uuid.UUID(admin_user))
    assert "engagement.director_leaving" in kinds
    assert "engagement.replacement_found" in kinds
    assert "engagement.oversight_gap" not in kinds
    actions = set(
        await session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == engaged.id))
    )
    assert {
        "engagement.director_leaving",
        "engagement.director_replaced",
        "engagement.director_ended",
    } <= actions


async def test_no_replacement_in_time_shows_the_gap_and_tells_clinic_and_ops(
    client, session, settings, emulator
):
    engaged, _ = await subscribed(client, session, settings, emulator)
    ops = await ops_headers(client, session, settings)
    leaving_on = today() + timedelta(NOTICE)
    resigned = await client.post(
        f"/v1/engagements/{engaged.id}/resign",
        json={"reason": "retiring", "effective_on": str(leaving_on)},
        headers=engaged.doctor,
    )
    assert resigned.status_code == 200, resigned.text
    # Nobody else is eligible: operations hear at once that the search is exhausted.
    [departure] = resigned.json()["departures"]
    assert departure["status"] == "uncovered"
    ops_user = (await client.get("/v1/me", headers=ops)).json()["id"]
    assert "engagement.replacement_exhausted" in await _kinds(session, uuid.UUID(ops_user))
    # Until the date the director still oversees: no gap yet, but the date shows.
    assert resigned.json()["uncovered_states"] == []
    before = await client.get(f"/v1/intakes/{engaged.intake['id']}", headers=engaged.admin)
    assert before.json()["continuity"]["uncovered_states"] == []
    assert before.json()["continuity"]["directors_leaving"][0]["oversight_ends_on"] == str(
        leaving_on
    )

    ended = await end_due_oversight(session, on=leaving_on)
    await session.commit()
    assert (ended.directors_ended, ended.gaps_opened) == (1, 1)
    with travel(timedelta(days=NOTICE)):
        admin = bearer((await login(client, engaged.admin_email))["access_token"])
        view = (await client.get(f"/v1/engagements/{engaged.id}", headers=admin)).json()
        intake = (await client.get(f"/v1/intakes/{engaged.intake['id']}", headers=admin)).json()
    assert view["status"] == "ending"
    assert view["uncovered_states"] == ["TX"]
    assert view["directors"] == []
    # The clinic's intake view shows the gap too.
    assert intake["continuity"]["uncovered_states"] == ["TX"]
    [leaving] = intake["continuity"]["directors_leaving"]
    assert (leaving["states"], leaving["oversight_ends_on"]) == (["TX"], str(leaving_on))
    assert leaving["status"] == "uncovered"
    admin_user = (await client.get("/v1/me", headers=engaged.admin)).json()["id"]
    assert "engagement.oversight_gap" in await _kinds(session, uuid.UUID(admin_user))
    assert await coverage_on(session, uuid.UUID(engaged.id), leaving_on) == set()
    # The ended director holds no capacity for it any more.
    row = await session.scalar(
        select(EngagementDirector).where(EngagementDirector.physician_id == engaged.physician.id)
    )
    assert row is not None
    assert row.ended_at is not None


async def test_only_the_engagements_own_director_may_resign(client, session, settings, emulator):
    engaged, _ = await subscribed(client, session, settings, emulator)
    stranger = await make_physician(session, last_name="Okafor")
    await session.commit()
    body = {"reason": "not mine", "effective_on": str(today() + timedelta(NOTICE))}
    other_doctor = await physician_headers(client, session, settings, stranger)
    assert (
        await client.post(f"/v1/engagements/{engaged.id}/resign", json=body, headers=other_doctor)
    ).status_code == 404
    assert (
        await client.post(f"/v1/engagements/{engaged.id}/resign", json=body, headers=engaged.admin)
    ).status_code == 403
    assert (
        await client.post(
            f"/v1/engagements/{engaged.id}/resign",
            json=body,
            headers=await user_headers(client, "physician"),
        )
    ).status_code == 404
    missing = await client.post(
        f"/v1/engagements/{uuid.uuid4()}/resign", json=body, headers=engaged.doctor
    )
    assert missing.status_code == 404


def test_a_month_is_split_by_the_days_each_director_oversees():
    monthly = 90_000
    leaving = EngagementDirector(
        monthly_payout_cents=monthly, starts_on=None, ends_on=date(2026, 12, 11)
    )
    joining = EngagementDirector(
        monthly_payout_cents=monthly, starts_on=date(2026, 12, 11), ends_on=None
    )
    december = date(2026, 12, 1)
    assert month_share(leaving, december) == monthly * 10 // 31
    assert month_share(joining, december) == monthly * 21 // 31
    assert month_share(leaving, december) + month_share(joining, december) in (
        monthly - 1,
        monthly,
    )
    assert month_share(leaving, date(2027, 1, 1)) == 0
    assert month_share(joining, date(2026, 11, 1)) == 0
    assert month_share(joining, date(2027, 1, 1)) == monthly


async def test_suspension_starts_the_replacement_search_the_same_day(
    client, session, settings, emulator
):
    engaged, _ = await subscribed(client, session, settings, emulator)
    successor = await make_physician(session, last_name="Castillo")
    await session.commit()
    ops = await ops_headers(client, session, settings)
    suspended = await client.post(
        f"/v1/physicians/{engaged.physician.id}/suspend",
        json={"reason": "board complaint under review"},
        headers=ops,
    )
    assert suspended.status_code == 200, suspended.text
    view = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    [departure] = view["departures"]
    assert (departure["reason"], departure["status"]) == ("suspended", "searching")
    assert departure["oversight_ends_on"] == str(today())
    assert view["status"] == "ending"
    successor_headers = await physician_headers(client, session, settings, successor)
    [offer] = await _offers(client, successor_headers)
    admin_user = (await client.get("/v1/me", headers=engaged.admin)).json()["id"]
    assert "engagement.director_leaving" in await _kinds(session, uuid.UUID(admin_user))

    # Oversight stops today; once the sweep runs the gap shows until the successor accepts.
    await end_due_oversight(session, on=today())
    await session.commit()
    gap = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    assert gap["uncovered_states"] == ["TX"]
    accepted = await client.post(f"/v1/offers/{offer['id']}/accept", headers=successor_headers)
    assert accepted.status_code == 200, accepted.text
    filled = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    assert filled["uncovered_states"] == []
    assert filled["status"] == "active"
    assert [d["starts_on"] for d in filled["directors"]] == [str(today())]


async def test_a_lapsed_license_ends_oversight_in_that_state_from_its_expiry(
    client, session, settings, emulator
):
    from app.physicians.expiry import sweep_credentials
    from app.physicians.models import License

    engaged, _ = await subscribed(client, session, settings, emulator)
    await make_physician(session, last_name="Duarte")
    await session.commit()
    license_ = await session.scalar(
        select(License).where(License.physician_id == engaged.physician.id, License.state == "TX")
    )
    assert license_ is not None
    expiry = today() + timedelta(days=3)
    license_.expires_on = expiry
    await session.commit()
    # Renewed before the sweep? No: the sweep on the expiry day finds it lapsed.
    with travel(timedelta(days=3)):
        result = await sweep_credentials(session, on=expiry, warn_days=60, settings=settings)
        await session.commit()
    assert result.expired == 1
    view = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    [departure] = view["departures"]
    assert departure["reason"] == "license_lapsed"
    assert departure["oversight_ends_on"] == str(expiry)
    assert departure["status"] == "searching"


async def test_lapsed_malpractice_cover_is_replaced_before_it_ends_with_no_day_uncovered(
    client, session, settings, emulator
):
    from app.physicians.expiry import sweep_credentials
    from app.physicians.models import MalpracticePolicy

    engaged, _ = await subscribed(client, session, settings, emulator)
    successor = await make_physician(session, last_name="Esposito")
    await session.commit()
    [policy] = list(
        await session.scalars(
            select(MalpracticePolicy).where(MalpracticePolicy.physician_id == engaged.physician.id)
        )
    )
    expiry = today() + timedelta(days=5)
    policy.expires_on = expiry
    await session.commit()
    # The sweep sees the policy lapse on its date and ends oversight from that date.
    with travel(timedelta(days=5)):
        result = await sweep_credentials(session, on=expiry, warn_days=60, settings=settings)
        await session.commit()
        successor_headers = await physician_headers(client, session, settings, successor)
        [offer] = await _offers(client, successor_headers)
        accepted = await client.post(f"/v1/offers/{offer['id']}/accept", headers=successor_headers)
        assert accepted.status_code == 200, accepted.text
        admin = bearer((await login(client, engaged.admin_email))["access_token"])
        view = (await client.get(f"/v1/engagements/{engaged.id}", headers=admin)).json()
    assert result.expired == 1
    [departure] = view["departures"]
    assert (departure["reason"], departure["states"]) == ("malpractice_lapsed", ["TX"])
    assert departure["oversight_ends_on"] == str(expiry)
    assert departure["status"] == "replaced"
    for day in range(0, 30):
        covered = await coverage_on(session, uuid.UUID(engaged.id), today() + timedelta(day))
        assert covered == {"TX"}, day


async def test_a_director_rejected_on_reverification_stops_the_same_day(
    app, client, session, settings, emulator
):
    from app.devtools.nppes import NppesStandIn
    from app.physicians.models import MalpracticePolicy

    engaged, _ = await subscribed(client, session, settings, emulator)
    await make_physician(session, last_name="Fujita")
    doctor = engaged.physician
    fake = NppesStandIn()
    fake.add(doctor.npi, doctor.first_name, doctor.last_name)
    original, app.state.nppes = app.state.nppes, fake.client()
    try:
        # Their only malpractice policy was rejected by the carrier: re-verification fails.
        for policy in await session.scalars(
            select(MalpracticePolicy).where(MalpracticePolicy.physician_id == doctor.id)
        ):
            policy.status = "rejected"
        await session.commit()
        ops = await ops_headers(client, session, settings)
        verified = await client.post(f"/v1/physicians/{doctor.id}/verify", headers=ops)
    finally:
        await app.state.nppes.aclose()
        app.state.nppes = original
    assert verified.status_code == 200, verified.text
    assert verified.json()["verification_status"] == "rejected"
    view = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    [departure] = view["departures"]
    assert (departure["reason"], departure["oversight_ends_on"]) == ("rejected", str(today()))
    assert departure["status"] == "searching"
    assert view["status"] == "ending"
    admin_user = (await client.get("/v1/me", headers=engaged.admin)).json()["id"]
    assert "engagement.director_leaving" in await _kinds(session, uuid.UUID(admin_user))
