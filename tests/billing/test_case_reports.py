"""Per-case engagements bill the cases reported, not an estimate: the quote
shows the estimate, the subscription bills the minimum, each month's report becomes an invoice
item on the next invoice (on the Stripe emulator), and the paid invoice accrues the director's
share of the cases."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select

from app.billing.models import CaseReport, PayoutEntry
from app.billing.sync import invoice_item_ids, split_cents
from app.kit.clock import today
from app.pricing.price_book import BP
from tests.billing.helpers import post_event, real_event, real_invoice, subscribed
from tests.billing.test_webhooks import run_deferred
from tests.factories import user_headers
from tests.matching.helpers import make_physician, physician_headers

PROBLEMS = "https://mdmatch.dev/problems/"
FEE = 9500  # the price book's per-case fee


def this_month() -> str:
    return f"{today():%Y-%m}"


async def per_case(client, session, settings, emulator):
    # The guaranteed monthly share of a per-case engagement is small (the minimum's); a
    # physician's minimum rate is compared with it, not with the estimate.
    doc = await make_physician(session, min_monthly_rate_cents=10_000)
    engaged, body = await subscribed(
        client,
        session,
        settings,
        emulator,
        physician=doc,
        engagement_model="per_case",
        monthly_patient_volume=130,
    )
    assert body["status"] == "active", body
    return engaged, body


async def test_the_subscription_bills_the_minimum_and_the_quote_shows_the_estimate(
    client, session, settings, emulator
):
    _, body = await per_case(client, session, settings, emulator)
    quote = body["quote"]
    lines = {li["code"]: li for li in quote["line_items"]}
    estimate = lines["per_case:estimated_cases"]
    assert estimate["kind"] == "estimate"
    assert estimate["amount_cents"] == 7 * FEE  # ceil(130 x 5 / 100) cases
    assert quote["monthly_total_cents"] == sum(
        li["amount_cents"] for li in quote["line_items"] if li["kind"] == "recurring"
    )
    assert quote["estimated_monthly_cents"] == quote["monthly_total_cents"] + 7 * FEE
    sub = await emulator.get(f"/v1/subscriptions/{body['stripe_subscription_id']}")
    assert sub["items"]["data"][0]["plan"]["amount"] == quote["monthly_total_cents"]


async def test_reported_cases_are_billed_on_the_next_invoice_and_pay_the_director(
    client, session, settings, emulator, bound_app
):
    engaged, body = await per_case(client, session, settings, emulator)
    url = f"/v1/engagements/{engaged.id}/case-reports"
    created = await client.post(
        url,
        json={"month": this_month(), "cases": 12, "note": "from our EMR"},
        headers=engaged.admin,
    )
    assert created.status_code == 201, created.text
    report = created.json()
    assert (report["cases"], report["fee_cents"], report["amount_cents"]) == (12, FEE, 12 * FEE)
    assert report["billing"] == "next_invoice"
    # On Stripe: a pending invoice item of the clinic's customer, carrying our key.
    sub = await emulator.get(f"/v1/subscriptions/{body['stripe_subscription_id']}")
    customer = sub["customer"]
    items = (await emulator.get("/v1/invoiceitems", customer=customer))["data"]
    [item] = [
        i
        for i in items
        if (i.get("metadata") or {}).get("mdmatch_key")
        == f"case-report:{engaged.id}:{this_month()}"
    ]
    assert item["amount"] == 12 * FEE
    assert item.get("invoice") is None  # pending: the next invoice collects it

    again = await client.post(url, json={"month": this_month(), "cases": 3}, headers=engaged.admin)
    assert again.status_code == 409
    assert again.json()["type"] == PROBLEMS + "case-report-exists"
    assert len((await emulator.get("/v1/invoiceitems", customer=customer))["data"]) == len(items)

    # The next invoice (Stripe would make it at renewal; here on demand) collects the item and
    # is paid; the webhook tells us, as real Stripe shapes it.
    gateway = bound_app.state.stripe
    invoice = await gateway.create_invoice(
        customer=customer, subscription=body["stripe_subscription_id"], key=f"t:{uuid.uuid4()}"
    )
    assert item["id"] in invoice_item_ids(invoice)
    await gateway.pay_invoice(invoice["id"], key=f"t:{uuid.uuid4()}")
    paid = await gateway.retrieve_invoice(invoice["id"])
    assert paid["status"] == "paid"
    event = real_event("invoice.paid", real_invoice(paid, body["stripe_subscription_id"]))
    assert (await post_event(client, event)).status_code == 200
    await run_deferred(session)

    [listed] = (await client.get(url, headers=engaged.admin)).json()["items"]
    assert listed["billing"] == "paid"
    assert listed["stripe_invoice_id"] == invoice["id"]
    entries = list(
        await session.scalars(
            select(PayoutEntry).where(
                PayoutEntry.engagement_id == uuid.UUID(engaged.id), PayoutEntry.kind == "cases"
            )
        )
    )
    share = settings_share(body)
    assert [(e.physician_id, e.month, e.amount_cents) for e in entries] == [
        (engaged.physician.id, today().replace(day=1), 12 * FEE * share // BP)
    ]
    # A redelivered event accrues nothing more.
    assert (await post_event(client, event)).status_code == 200
    await run_deferred(session)
    again = await session.scalars(
        select(PayoutEntry.id).where(
            PayoutEntry.engagement_id == uuid.UUID(engaged.id), PayoutEntry.kind == "cases"
        )
    )
    assert len(list(again)) == 1


def settings_share(body) -> int:
    """The payout share the quote used, in basis points (payout / monthly total)."""
    quote = body["quote"]
    return round(quote["physician_payout_cents"] * BP / quote["monthly_total_cents"])


async def test_bad_reports_are_refused_and_write_nothing(client, session, settings, emulator):
    engaged, _ = await per_case(client, session, settings, emulator)
    url = f"/v1/engagements/{engaged.id}/case-reports"
    t = today()
    next_month = date(t.year + (t.month == 12), t.month % 12 + 1, 1)
    last_year = date(t.year - 1, t.month, 1)
    for body, where in (
        ({"month": f"{next_month:%Y-%m}", "cases": 1}, "month"),
        ({"month": f"{last_year:%Y-%m}", "cases": 1}, "month"),
        ({"month": "2026-13", "cases": 1}, "month"),
        ({"month": "0000-01", "cases": 1}, "month"),
        ({"month": this_month(), "cases": -1}, "cases"),
        ({"month": this_month(), "cases": 10_001}, "cases"),
        ({"month": this_month(), "cases": 1, "extra": True}, "extra"),
    ):
        r = await client.post(url, json=body, headers=engaged.admin)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert where in r.text
    assert (
        await session.scalar(
            select(CaseReport.id).where(CaseReport.engagement_id == uuid.UUID(engaged.id))
        )
    ) is None
    # Zero cases is a report (the month is accounted for) with nothing billed.
    zero = await client.post(url, json={"month": this_month(), "cases": 0}, headers=engaged.admin)
    assert zero.status_code == 201
    assert (zero.json()["amount_cents"], zero.json()["billing"]) == (0, "not_billed")


async def test_who_may_report(client, session, settings, emulator):
    engaged, _ = await per_case(client, session, settings, emulator)
    url = f"/v1/engagements/{engaged.id}/case-reports"
    # Another clinic and another physician do not see the engagement.
    stranger = await user_headers(client, "clinic_admin")
    other_doc = await make_physician(session, last_name="Elsewhere")
    other_doc_h = await physician_headers(client, session, settings, other_doc)
    for headers in (stranger, other_doc_h):
        r = await client.post(url, json={"month": this_month(), "cases": 1}, headers=headers)
        assert r.status_code == 404
        assert (await client.get(url, headers=headers)).status_code == 404
    # The engagement's director reports (and sees) its cases.
    doctor = await physician_headers(client, session, settings, engaged.physician)
    r = await client.post(url, json={"month": this_month(), "cases": 4}, headers=doctor)
    assert r.status_code == 201, r.text
    assert [i["cases"] for i in (await client.get(url, headers=engaged.admin)).json()["items"]] == [
        4
    ]


async def test_only_per_case_engagements_report_cases(client, session, settings, emulator):
    engaged, _ = await subscribed(client, session, settings, emulator)  # a retainer
    r = await client.post(
        f"/v1/engagements/{engaged.id}/case-reports",
        json={"month": this_month(), "cases": 2},
        headers=engaged.admin,
    )
    assert r.status_code == 409
    assert r.json()["type"] == PROBLEMS + "not-per-case"


def test_invoice_items_are_read_from_either_line_shape():
    old = {"lines": {"data": [{"type": "invoiceitem", "invoice_item": "ii_1"}]}}
    basil = {
        "lines": {
            "data": [
                {
                    "parent": {
                        "type": "invoice_item_details",
                        "invoice_item_details": {"invoice_item": "ii_2"},
                    }
                },
                {"parent": {"type": "subscription_item_details", "subscription_item_details": {}}},
            ]
        }
    }
    assert invoice_item_ids(old) == {"ii_1"}
    assert invoice_item_ids(basil) == {"ii_2"}
    assert invoice_item_ids({}) == set()


def test_split_cents_adds_up():
    assert split_cents(1001, [1, 1]) == [501, 500]
    assert split_cents(100, [3, 1]) == [75, 25]
    assert split_cents(7, [0, 0]) == [7, 0]
    assert sum(split_cents(99_999, [17, 29, 31])) == 99_999


def test_previous_month_across_year_ends_and_leap_years():
    from app.billing.cases import previous_month

    assert previous_month(date(2027, 1, 2)) == date(2026, 12, 1)
    assert previous_month(date(2028, 3, 1)) == date(2028, 2, 1)  # leap February
    assert previous_month(date(2024, 3, 31)) == date(2024, 2, 1)
    assert previous_month(date(2026, 12, 31)) == date(2026, 11, 1)
    assert previous_month(date(2027, 3, 1)) == date(2027, 2, 1)


async def test_a_month_without_a_report_is_reminded_once(client, session, settings, emulator):
    from datetime import timedelta

    from app.billing.cases import previous_month, remind_missing_reports
    from app.kit.clock import travel
    from app.notifications.models import Notification

    engaged, _ = await per_case(client, session, settings, emulator)

    async def reminders() -> list[Notification]:
        return list(
            await session.scalars(
                select(Notification).where(
                    Notification.kind == "engagement.cases_report_due",
                    Notification.data["engagement_id"].astext == engaged.id,
                )
            )
        )

    # This month has not ended: nothing is due yet.
    await remind_missing_reports(session, on=today())
    assert await reminders() == []
    with travel(timedelta(days=40)):
        due = previous_month(today())
        await remind_missing_reports(session, on=today())
        await session.commit()
        first = await reminders()
        users = {n.user_id for n in first}
        assert engaged.physician.user_id in users  # the director
        assert len(users) == 2  # and the clinic's owner
        assert {n.data["month"] for n in first} == {f"{due:%Y-%m}"}
        await remind_missing_reports(session, on=today())  # once per month
        assert len(await reminders()) == len(first)
