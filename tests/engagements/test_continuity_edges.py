"""Continuity when several things happen to one engagement: two directors leaving at once, a
backup leaving, scope changes and cancellation while searches are open, the payout of a backup
that is dropped."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.billing.models import PayoutEntry
from app.billing.sync import month_share
from app.engagements.models import EngagementDirector
from app.kit.clock import today, travel
from tests.billing.helpers import subscribed
from tests.factories import bearer, login, ops_headers, user_headers
from tests.matching.helpers import make_physician, physician_headers
from tests.matching.test_flow import offers_of, submitted_intake

NOTICE = 30

# Standing by pays a small share of the payout: a physician whose stated minimum monthly
# rate is above it is not offered the standby (the `min_rate` constraint).
STANDBY_MINIMUM = 10_000


async def _pending(client, headers) -> list[dict[str, Any]]:
    return list(await offers_of(client, headers, status="pending"))


async def _two_director_engagement(client, session, settings):
    """A Texas + California clinic confirmed with one director per state."""
    tx = await make_physician(session, states=("TX",), last_name="Texan")
    ca = await make_physician(session, states=("CA",), last_name="Californian", home_zip="90210")
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin, ("TX", "CA"))
    tx_h = await physician_headers(client, session, settings, tx)
    ca_h = await physician_headers(client, session, settings, ca)
    for h in (tx_h, ca_h):
        [offer] = await _pending(client, h)
        assert (await client.post(f"/v1/offers/{offer['id']}/accept", headers=h)).status_code == 200
    confirmed = await client.post(f"/v1/intakes/{intake['id']}/confirm", headers=admin)
    assert confirmed.status_code == 201, confirmed.text
    return admin, intake, confirmed.json(), (tx, tx_h), (ca, ca_h)


async def test_two_directors_leaving_are_both_searched_for_and_each_replaced_in_its_state(
    client, session, settings
):
    admin, _, engagement, (_, tx_h), (_, ca_h) = await _two_director_engagement(
        client, session, settings
    )
    tx_next = await make_physician(session, states=("TX",), last_name="Tejas")
    ca_next = await make_physician(session, states=("CA",), last_name="Golden", home_zip="90210")
    await session.commit()
    tx_next_h = await physician_headers(client, session, settings, tx_next)
    ca_next_h = await physician_headers(client, session, settings, ca_next)
    leaving_on = today() + timedelta(NOTICE)
    eid = engagement["id"]
    for h in (tx_h, ca_h):
        resigned = await client.post(
            f"/v1/engagements/{eid}/resign",
            json={"reason": "moving on", "effective_on": str(leaving_on)},
            headers=h,
        )
        assert resigned.status_code == 200, resigned.text
    view = (await client.get(f"/v1/engagements/{eid}", headers=admin)).json()
    assert sorted(d["status"] for d in view["departures"]) == ["searching", "searching"]
    # Each successor holds exactly one offer, for their own state; nobody was offered twice.
    [tx_offer] = await _pending(client, tx_next_h)
    [ca_offer] = await _pending(client, ca_next_h)
    assert (tx_offer["states"], ca_offer["states"]) == (["TX"], ["CA"])
    assert tx_offer["purpose"] == ca_offer["purpose"] == "replacement"
    # The co-director is never asked to replace the other.
    assert await _pending(client, tx_h) == []
    assert await _pending(client, ca_h) == []

    # The accept fills its own state's departure, whichever comes first.
    ok = await client.post(f"/v1/offers/{ca_offer['id']}/accept", headers=ca_next_h)
    assert ok.status_code == 200, ok.text
    view = (await client.get(f"/v1/engagements/{eid}", headers=admin)).json()
    by_state = {d["states"][0]: d for d in view["departures"]}
    assert (by_state["CA"]["status"], by_state["CA"]["replacement_physician_id"]) == (
        "replaced",
        str(ca_next.id),
    )
    assert by_state["TX"]["status"] == "searching"
    ok = await client.post(f"/v1/offers/{tx_offer['id']}/accept", headers=tx_next_h)
    assert ok.status_code == 200, ok.text
    view = (await client.get(f"/v1/engagements/{eid}", headers=admin)).json()
    assert {d["states"][0]: d["replacement_physician_id"] for d in view["departures"]} == {
        "TX": str(tx_next.id),
        "CA": str(ca_next.id),
    }
    assert view["status"] == "pending_payment"


async def test_a_second_departure_keeps_the_first_search_going(client, session, settings):
    admin, _, engagement, (_, tx_h), (_, ca_h) = await _two_director_engagement(
        client, session, settings
    )
    tx_next = await make_physician(session, states=("TX",), last_name="Tejas")
    await session.commit()
    tx_next_h = await physician_headers(client, session, settings, tx_next)
    leaving_on = today() + timedelta(NOTICE)
    eid = engagement["id"]
    first = await client.post(
        f"/v1/engagements/{eid}/resign",
        json={"reason": "moving on", "effective_on": str(leaving_on)},
        headers=tx_h,
    )
    assert first.status_code == 200, first.text
    [early_offer] = await _pending(client, tx_next_h)
    # California's director leaves too: nobody can replace them, Texas's search goes on.
    second = await client.post(
        f"/v1/engagements/{eid}/resign",
        json={"reason": "retiring", "effective_on": str(leaving_on)},
        headers=ca_h,
    )
    assert second.status_code == 200, second.text
    by_state = {d["states"][0]: d["status"] for d in second.json()["departures"]}
    assert by_state == {"TX": "searching", "CA": "uncovered"}
    [offer] = await _pending(client, tx_next_h)
    assert offer["id"] != early_offer["id"]  # re-offered in the new round
    late = await client.post(f"/v1/offers/{early_offer['id']}/accept", headers=tx_next_h)
    assert late.status_code == 409
    ok = await client.post(f"/v1/offers/{offer['id']}/accept", headers=tx_next_h)
    assert ok.status_code == 200, ok.text
    by_state = {
        d["states"][0]: d["status"]
        for d in (await client.get(f"/v1/engagements/{eid}", headers=admin)).json()["departures"]
    }
    assert by_state == {"TX": "replaced", "CA": "uncovered"}


async def test_a_backup_who_resigns_is_not_asked_back_and_scope_changes_still_work(
    client, session, settings, emulator
):
    backup = await make_physician(
        session, last_name="Okafor", min_monthly_rate_cents=STANDBY_MINIMUM
    )
    await session.commit()
    engaged, _ = await subscribed(client, session, settings, emulator, standing_backup=True)
    backup_h = await physician_headers(client, session, settings, backup)
    [offer] = await _pending(client, backup_h)
    assert (await client.post(f"/v1/offers/{offer['id']}/accept", headers=backup_h)).is_success
    resigned = await client.post(
        f"/v1/engagements/{engaged.id}/resign",
        json={"reason": "too busy", "effective_on": str(today() + timedelta(NOTICE))},
        headers=backup_h,
    )
    assert resigned.status_code == 200, resigned.text
    # The new backup search asks nobody who is or was on this engagement.
    assert resigned.json()["backup_search"] == "uncovered"
    assert await _pending(client, backup_h) == []
    assert await _pending(client, engaged.doctor) == []
    # While that search is open the clinic can still change its scope, and drop the option.
    more = await client.post(
        f"/v1/engagements/{engaged.id}/change-scope",
        json={"monthly_patient_volume": 180},
        headers=engaged.admin,
    )
    assert more.status_code == 200, more.text
    dropped = await client.post(
        f"/v1/engagements/{engaged.id}/change-scope",
        json={"standing_backup": False},
        headers=engaged.admin,
    )
    assert dropped.status_code == 200, dropped.text
    view = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    assert (view["backup"], view["backup_search"]) == (None, None)


async def test_dropping_the_backup_keeps_the_days_it_served_paid(
    client, session, settings, emulator
):
    backup = await make_physician(
        session, last_name="Varga", min_monthly_rate_cents=STANDBY_MINIMUM
    )
    await session.commit()
    engaged, _ = await subscribed(client, session, settings, emulator, standing_backup=True)
    backup_h = await physician_headers(client, session, settings, backup)
    [offer] = await _pending(client, backup_h)
    assert (await client.post(f"/v1/offers/{offer['id']}/accept", headers=backup_h)).is_success
    row = await session.scalar(
        select(EngagementDirector).where(
            EngagementDirector.physician_id == backup.id,
            EngagementDirector.engagement_id == uuid.UUID(engaged.id),
        )
    )
    assert row is not None
    accrued = list(
        await session.scalars(
            select(PayoutEntry).where(PayoutEntry.engagement_director_id == row.id)
        )
    )
    assert accrued
    assert accrued[0].amount_cents > 0
    month = accrued[0].month
    with travel(timedelta(days=10)):
        admin = bearer((await login(client, engaged.admin_email))["access_token"])
        dropped = await client.post(
            f"/v1/engagements/{engaged.id}/change-scope",
            json={"standing_backup": False},
            headers=admin,
        )
        assert dropped.status_code == 200, dropped.text
    await session.refresh(row)
    started_on = row.starts_on
    assert row.ends_on == started_on + timedelta(days=10)
    # The server resized the row in its own session: read it again, not from this session's
    # identity map (which still holds the amount accrued before the drop).
    after = list(
        await session.scalars(
            select(PayoutEntry)
            .where(PayoutEntry.engagement_director_id == row.id)
            .execution_options(populate_existing=True)
        )
    )
    # The days served within the invoiced month stay paid at the backup's rate, no more.
    next_month = (month + timedelta(days=31)).replace(day=1)
    served = (min(row.ends_on, next_month) - max(started_on, month)).days
    days_in_month = (next_month - month).days
    assert [e.month for e in after] == [month]
    assert after[0].amount_cents == row.monthly_payout_cents * served // days_in_month > 0
    assert after[0].amount_cents == month_share(row, month)


async def test_canceling_closes_an_open_replacement_search_for_good(
    client, session, settings, emulator
):
    engaged, _ = await subscribed(client, session, settings, emulator)
    successor = await make_physician(session, last_name="Brennan")
    await session.commit()
    successor_h = await physician_headers(client, session, settings, successor)
    resigned = await client.post(
        f"/v1/engagements/{engaged.id}/resign",
        json={"reason": "relocating", "effective_on": str(today() + timedelta(NOTICE))},
        headers=engaged.doctor,
    )
    assert resigned.status_code == 200, resigned.text
    [offer] = await _pending(client, successor_h)
    canceled = await client.post(
        f"/v1/engagements/{engaged.id}/cancel",
        json={"at_period_end": False},
        headers=engaged.admin,
    )
    assert canceled.status_code == 200, canceled.text
    view = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    assert [d["status"] for d in view["departures"]] == ["canceled"]
    assert await _pending(client, successor_h) == []
    ops = await ops_headers(client, session, settings)
    rematch = await client.post(
        f"/v1/intakes/{engaged.intake['id']}/rematch", json={"reason": "try again"}, headers=ops
    )
    assert rematch.status_code == 409, rematch.text
    forced = await client.post(
        f"/v1/intakes/{engaged.intake['id']}/offers",
        json={"physician_id": str(successor.id), "reason": "the clinic asked", "force": True},
        headers=ops,
    )
    assert forced.status_code == 409, forced.text
    late = await client.post(f"/v1/offers/{offer['id']}/accept", headers=successor_h)
    assert late.status_code == 409


async def test_a_cancel_at_period_end_stops_the_backup_search(client, session, settings, emulator):
    backup = await make_physician(
        session, last_name="Ibarra", min_monthly_rate_cents=STANDBY_MINIMUM
    )
    await session.commit()
    engaged, _ = await subscribed(client, session, settings, emulator, standing_backup=True)
    backup_h = await physician_headers(client, session, settings, backup)
    assert len(await _pending(client, backup_h)) == 1
    canceled = await client.post(
        f"/v1/engagements/{engaged.id}/cancel",
        json={"at_period_end": True},
        headers=engaged.admin,
    )
    assert canceled.status_code == 200, canceled.text
    assert await _pending(client, backup_h) == []
    view = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    assert view["backup_search"] is None
