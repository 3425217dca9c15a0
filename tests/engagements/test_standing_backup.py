"""The standing backup director: priced as an optional recurring item, searched for when the
engagement is confirmed, and taking over automatically, with no day uncovered and no search,
when a director leaves."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.engagements.continuity import coverage_on, end_due_oversight
from app.kit.clock import today
from app.notifications.models import Notification
from app.pricing.price_book import default_price_book
from app.pricing.quotes import OptionNotOffered, compute_quote
from tests.billing.helpers import subscribed
from tests.factories import ops_headers
from tests.matching.helpers import make_physician, physician_headers
from tests.pricing.test_quote_api import instant_body
from tests.pricing.test_quotes import CATALOG, TIERS, TODAY, quote, tx_retainer

NOTICE = 30
BACKUP_CENTS = 24_900

# Standing by pays a small share of the payout: a physician whose stated minimum monthly
# rate is above it is not offered the standby (the `min_rate` constraint).
STANDBY_MINIMUM = 10_000


async def _pending(client, headers) -> list[dict[str, Any]]:
    page = await client.get(
        "/v1/physicians/me/offers", params={"status": "pending"}, headers=headers
    )
    assert page.status_code == 200, page.text
    return page.json()["items"]


async def _view(client, engaged) -> dict[str, Any]:
    response = await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)
    assert response.status_code == 200, response.text
    return response.json()


async def _admin_kinds(client, session, engaged) -> list[str]:
    admin_user = (await client.get("/v1/me", headers=engaged.admin)).json()["id"]
    return list(
        await session.scalars(
            select(Notification.kind).where(Notification.user_id == uuid.UUID(admin_user))
        )
    )


async def _with_backup(client, session, settings, emulator):
    """A paid engagement with a standing backup who has accepted."""
    backup = await make_physician(
        session, last_name="Okafor", min_monthly_rate_cents=STANDBY_MINIMUM
    )
    await session.commit()
    engaged, paid = await subscribed(client, session, settings, emulator, standing_backup=True)
    assert paid["status"] == "active", paid
    backup_headers = await physician_headers(client, session, settings, backup)
    [offer] = await _pending(client, backup_headers)
    assert (offer["purpose"], offer["starts_on"]) == ("standing_backup", None)
    accepted = await client.post(f"/v1/offers/{offer['id']}/accept", headers=backup_headers)
    assert accepted.status_code == 200, accepted.text
    return engaged, paid, backup, backup_headers, offer


def test_the_backup_is_an_optional_recurring_line_of_the_price_book():
    book = default_price_book()
    assert book.standing_backup_cents == BACKUP_CENTS
    without = quote(tx_retainer())
    with_backup = quote(tx_retainer(standing_backup=True))
    [line] = [li for li in with_backup.line_items if li.code == "standing_backup"]
    assert (line.kind, line.amount_cents) == ("recurring", BACKUP_CENTS)
    assert with_backup.monthly_total_cents - without.monthly_total_cents == BACKUP_CENTS
    assert "standing_backup" not in {li.code for li in without.line_items}
    not_sold = book.model_copy(update={"standing_backup_cents": None})
    with pytest.raises(OptionNotOffered):
        compute_quote(
            tx_retainer(standing_backup=True),
            tiers=TIERS,
            catalog=CATALOG,
            book=not_sold,
            today=TODAY,
        )


async def test_the_quote_endpoint_itemizes_the_backup(client):
    plain = await client.post("/v1/quotes", json=instant_body())
    backed = await client.post("/v1/quotes", json=instant_body(standing_backup=True))
    assert plain.status_code == backed.status_code == 200, backed.text
    codes = {li["code"]: li["amount_cents"] for li in backed.json()["line_items"]}
    assert codes["standing_backup"] == BACKUP_CENTS
    assert (
        backed.json()["monthly_total_cents"] - plain.json()["monthly_total_cents"] == BACKUP_CENTS
    )


async def test_confirming_starts_the_backup_search_and_the_backup_goes_on_standby(
    client, session, settings, emulator
):
    engaged, paid, backup, backup_headers, offer = await _with_backup(
        client, session, settings, emulator
    )
    quote = paid["quote"]
    view = await _view(client, engaged)
    assert view["backup"]["physician_id"] == str(backup.id)
    assert view["backup_search"] is None
    assert view["status"] == "active"
    # The backup is paid the backup line's share of the payout; the director the rest.
    share = quote["physician_payout_cents"] * BACKUP_CENTS // quote["monthly_total_cents"]
    assert offer["monthly_payout_cents"] == share
    assert view["backup"]["monthly_payout_cents"] == share
    [director] = view["directors"]
    assert director["physician_id"] == str(engaged.physician.id)
    assert director["monthly_payout_cents"] + share == quote["physician_payout_cents"]
    # A backup oversees nothing while on standby.
    assert await coverage_on(session, uuid.UUID(engaged.id), today()) == {"TX"}
    assert "engagement.backup_joined" in await _admin_kinds(client, session, engaged)
    # The backup sees the engagement in their portal.
    mine = await client.get("/v1/physicians/me/engagements", headers=backup_headers)
    assert engaged.id in {e["id"] for e in mine.json()["items"]}


async def test_a_resigning_director_is_covered_by_the_backup_with_no_search_and_no_gap(
    client, session, settings, emulator
):
    engaged, _, backup, backup_headers, _ = await _with_backup(client, session, settings, emulator)
    next_backup = await make_physician(
        session, last_name="Lindqvist", min_monthly_rate_cents=STANDBY_MINIMUM
    )
    await session.commit()
    next_headers = await physician_headers(client, session, settings, next_backup)

    leaving_on = today() + timedelta(NOTICE)
    resigned = await client.post(
        f"/v1/engagements/{engaged.id}/resign",
        json={"reason": "retiring", "effective_on": str(leaving_on)},
        headers=engaged.doctor,
    )
    assert resigned.status_code == 200, resigned.text
    body = resigned.json()
    [departure] = body["departures"]
    # Replaced at once, by the backup: the engagement never reads `ending`.
    assert departure["status"] == "replaced"
    assert departure["replacement_physician_id"] == str(backup.id)
    assert body["status"] == "active"
    by_physician = {d["physician_id"]: d for d in body["directors"]}
    assert by_physician[str(backup.id)]["starts_on"] == str(leaving_on)
    assert by_physician[str(engaged.physician.id)]["ends_on"] == str(leaving_on)
    # The backup now takes the leaving director's payout from the date.
    assert (
        by_physician[str(backup.id)]["monthly_payout_cents"]
        == by_physician[str(engaged.physician.id)]["monthly_payout_cents"]
    )
    # No replacement offers: the only new offer is for the next standing backup.
    assert body["backup"] is None
    assert body["backup_search"] == "searching"
    [next_offer] = await _pending(client, next_headers)
    assert await _pending(client, engaged.doctor) == []
    assert await _pending(client, backup_headers) == []

    for day in range(0, 2 * NOTICE):
        covered = await coverage_on(session, uuid.UUID(engaged.id), today() + timedelta(day))
        assert covered == {"TX"}, day
    ended = await end_due_oversight(session, on=leaving_on)
    await session.commit()
    assert (ended.directors_ended, ended.gaps_opened) == (1, 0)

    accepted = await client.post(f"/v1/offers/{next_offer['id']}/accept", headers=next_headers)
    assert accepted.status_code == 200, accepted.text
    after = await _view(client, engaged)
    assert after["backup"]["physician_id"] == str(next_backup.id)
    assert after["backup_search"] is None

    kinds = await _admin_kinds(client, session, engaged)
    assert "engagement.backup_takeover" in kinds
    assert "engagement.oversight_gap" not in kinds
    actions = set(
        await session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == engaged.id))
    )
    assert {
        "engagement.backup_search_started",
        "engagement.backup_joined",
        "engagement.director_leaving",
        "engagement.backup_takeover",
    } <= actions


async def test_a_suspended_director_is_covered_by_the_backup_the_same_day(
    client, session, settings, emulator
):
    engaged, _, backup, _, _ = await _with_backup(client, session, settings, emulator)
    ops = await ops_headers(client, session, settings)
    suspended = await client.post(
        f"/v1/physicians/{engaged.physician.id}/suspend",
        json={"reason": "board complaint under review"},
        headers=ops,
    )
    assert suspended.status_code == 200, suspended.text
    await end_due_oversight(session, on=today())
    await session.commit()
    view = await _view(client, engaged)
    assert view["uncovered_states"] == []
    assert view["status"] == "active"
    [director] = view["directors"]
    assert (director["physician_id"], director["starts_on"]) == (str(backup.id), str(today()))
    assert view["departures"][0]["status"] == "replaced"
    # Nobody else exists to be the next backup: operations are told.
    assert view["backup_search"] == "uncovered"


async def test_a_backup_who_resigns_is_replaced_as_backup_and_the_director_is_untouched(
    client, session, settings, emulator
):
    engaged, _, backup, backup_headers, _ = await _with_backup(client, session, settings, emulator)
    successor = await make_physician(
        session, last_name="Moreau", min_monthly_rate_cents=STANDBY_MINIMUM
    )
    await session.commit()
    leaving_on = today() + timedelta(NOTICE)
    resigned = await client.post(
        f"/v1/engagements/{engaged.id}/resign",
        json={"reason": "too busy", "effective_on": str(leaving_on)},
        headers=backup_headers,
    )
    assert resigned.status_code == 200, resigned.text
    body = resigned.json()
    assert body["status"] == "active"
    assert body["departures"] == []
    assert body["backup"]["physician_id"] == str(backup.id)
    assert body["backup"]["ends_on"] == str(leaving_on)
    assert body["backup_search"] == "searching"
    [director] = body["directors"]
    assert (director["physician_id"], director["ends_on"]) == (str(engaged.physician.id), None)
    successor_headers = await physician_headers(client, session, settings, successor)
    [offer] = await _pending(client, successor_headers)
    assert offer["monthly_payout_cents"] == body["backup"]["monthly_payout_cents"]
    assert "engagement.backup_ended" in await _admin_kinds(client, session, engaged)


async def test_adding_the_backup_later_reprices_and_dropping_it_ends_the_standby(
    client, session, settings, emulator
):
    backup = await make_physician(
        session, last_name="Varga", min_monthly_rate_cents=STANDBY_MINIMUM
    )
    await session.commit()
    engaged, paid = await subscribed(client, session, settings, emulator)
    backup_headers = await physician_headers(client, session, settings, backup)
    assert (await _view(client, engaged))["backup_search"] is None
    assert await _pending(client, backup_headers) == []

    added = await client.post(
        f"/v1/engagements/{engaged.id}/change-scope",
        json={"standing_backup": True},
        headers=engaged.admin,
    )
    assert added.status_code == 200, added.text
    view = await _view(client, engaged)
    assert (
        view["quote"]["monthly_total_cents"] == paid["quote"]["monthly_total_cents"] + BACKUP_CENTS
    )
    assert view["backup_search"] == "searching"
    [offer] = await _pending(client, backup_headers)
    accepted = await client.post(f"/v1/offers/{offer['id']}/accept", headers=backup_headers)
    assert accepted.status_code == 200, accepted.text
    assert (await _view(client, engaged))["backup"]["physician_id"] == str(backup.id)

    dropped = await client.post(
        f"/v1/engagements/{engaged.id}/change-scope",
        json={"standing_backup": False},
        headers=engaged.admin,
    )
    assert dropped.status_code == 200, dropped.text
    view = await _view(client, engaged)
    assert view["backup"] is None
    assert view["backup_search"] is None
    assert view["quote"]["monthly_total_cents"] == paid["quote"]["monthly_total_cents"]
    assert view["directors"][0]["monthly_payout_cents"] == paid["quote"]["physician_payout_cents"]


async def test_canceling_withdraws_the_backup_offers(client, session, settings, emulator):
    backup = await make_physician(
        session, last_name="Ibarra", min_monthly_rate_cents=STANDBY_MINIMUM
    )
    await session.commit()
    engaged, _ = await subscribed(client, session, settings, emulator, standing_backup=True)
    backup_headers = await physician_headers(client, session, settings, backup)
    [offer] = await _pending(client, backup_headers)
    canceled = await client.post(
        f"/v1/engagements/{engaged.id}/cancel",
        json={"at_period_end": False, "reason": "closing the clinic"},
        headers=engaged.admin,
    )
    assert canceled.status_code == 200, canceled.text
    assert await _pending(client, backup_headers) == []
    late = await client.post(f"/v1/offers/{offer['id']}/accept", headers=backup_headers)
    assert late.status_code == 409


async def test_operations_fill_an_uncovered_backup_search_with_a_named_physician(
    client, session, settings, emulator
):
    engaged, _ = await subscribed(client, session, settings, emulator, standing_backup=True)
    view = await _view(client, engaged)
    assert view["backup_search"] == "uncovered"  # nobody else exists
    named = await make_physician(
        session, last_name="Haddad", min_monthly_rate_cents=STANDBY_MINIMUM, accepting_new=False
    )
    await session.commit()
    ops = await ops_headers(client, session, settings)
    refused = await client.post(
        f"/v1/intakes/{engaged.intake['id']}/offers",
        json={"physician_id": str(named.id), "reason": "knows the clinic"},
        headers=ops,
    )
    assert refused.status_code == 409, refused.text
    assert "accepting_new" in refused.json().get("failed", []), refused.json()
    forced = await client.post(
        f"/v1/intakes/{engaged.intake['id']}/offers",
        json={"physician_id": str(named.id), "reason": "knows the clinic", "force": True},
        headers=ops,
    )
    assert forced.status_code == 201, forced.text
    named_headers = await physician_headers(client, session, settings, named)
    named.accepting_new = True  # they agreed on the phone and reopened their portal
    await session.commit()
    accepted = await client.post(f"/v1/offers/{forced.json()['id']}/accept", headers=named_headers)
    assert accepted.status_code == 200, accepted.text
    view = await _view(client, engaged)
    assert view["backup"]["physician_id"] == str(named.id)
    assert view["backup_search"] is None


async def test_a_physician_whose_minimum_is_above_the_standby_share_is_not_asked(
    client, session, settings, emulator
):
    """The standby pays the backup line's share; a physician asking more is never offered it."""
    dear = await make_physician(session, last_name="Dearborn", min_monthly_rate_cents=50_000)
    await session.commit()
    engaged, paid = await subscribed(client, session, settings, emulator, standing_backup=True)
    assert paid["status"] == "active", paid
    dear_headers = await physician_headers(client, session, settings, dear)
    assert await _pending(client, dear_headers) == []
    assert (await _view(client, engaged))["backup_search"] == "uncovered"
    ops = await ops_headers(client, session, settings)
    audit = (
        await client.get(
            "/v1/audit", params={"object_type": "engagement", "object_id": engaged.id}, headers=ops
        )
    ).json()["items"]
    [exhausted] = [e for e in audit if e["action"] == "engagement.backup_search_exhausted"]
    [diagnostics] = exhausted["after"]["diagnostics"]
    eliminated = {step["constraint"]: step["eliminated"] for step in diagnostics["funnel"]}
    assert eliminated["min_rate"] >= 1
