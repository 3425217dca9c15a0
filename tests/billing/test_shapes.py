"""Reading Stripe objects in both shapes: the emulator's older one and real Stripe's current API
version (periods on items, the invoice's subscription under `parent`, payments instead of
`payment_intent`)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from app.billing import shapes

T0 = int(datetime(2026, 11, 23, tzinfo=UTC).timestamp())
MONTH = 30 * 86400


def test_period_end_from_either_shape():
    old = {"current_period_end": T0 + MONTH, "items": {"data": [{"id": "si_1"}]}}
    new = {"items": {"data": [{"id": "si_1", "current_period_end": T0 + MONTH}]}}
    assert shapes.period_end(old) == shapes.period_end(new) == shapes.ts(T0 + MONTH)


def test_invoice_subscription_from_either_shape():
    assert shapes.invoice_subscription_id({"subscription": "sub_1"}) == "sub_1"
    parent = {"parent": {"subscription_details": {"subscription": "sub_2"}}}
    assert shapes.invoice_subscription_id(parent) == "sub_2"
    event = {"data": {"object": {"object": "invoice", "id": "in_1", **parent}}}
    assert shapes.object_ids(event) == ("sub_2", "in_1")
    assert shapes.object_ids({"data": {"object": {"object": "payout", "id": "po_1"}}}) == (
        None,
        None,
    )


def test_payment_outcomes():
    assert shapes.payment_outcome({"status": "paid"}).status == "paid"
    declined = {
        "status": "open",
        "attempted": True,
        "payment_intent": {
            "status": "requires_payment_method",
            "last_payment_error": {"code": "card_declined", "message": "Your card was declined."},
        },
    }
    assert shapes.payment_outcome(declined) == shapes.PaymentOutcome(
        "failed", "Your card was declined."
    )
    # 3-D Secure, emulator shape and real Stripe's (payments + confirmation_secret).
    emulated = {
        "status": "open",
        "payment_intent": {"status": "requires_action", "client_secret": "pi_1_secret_x"},
    }
    real = {
        "status": "open",
        "confirmation_secret": {"client_secret": "pi_2_secret_y", "type": "payment_intent"},
        "payments": {
            "data": [
                {
                    "payment": {
                        "type": "payment_intent",
                        "payment_intent": {"status": "requires_action"},
                    }
                }
            ]
        },
    }
    assert shapes.payment_outcome(emulated).client_secret == "pi_1_secret_x"
    assert shapes.payment_outcome(real).status == "requires_action"
    assert shapes.payment_outcome(real).client_secret == "pi_2_secret_y"
    assert shapes.payment_outcome({"status": "open", "attempted": False}).status is None
    assert shapes.payment_outcome({"status": "void"}).status == "failed"


def _line(start: int, end: int, **extra: object) -> dict[str, object]:
    return {
        "type": "subscription",
        "proration": False,
        "period": {"start": start, "end": end},
        **extra,
    }


def test_months_covered_by_paid_invoices():
    monthly = {"lines": {"data": [_line(T0, T0 + MONTH)]}}
    assert shapes.months_covered(monthly) == [date(2026, 11, 1)]
    yearly = {"lines": {"data": [_line(T0, T0 + 365 * 86400)]}}
    covered = shapes.months_covered(yearly)
    assert len(covered) == 12
    assert (covered[0], covered[-1]) == (date(2026, 11, 1), date(2027, 10, 1))
    # One-off lines and prorations cover no month; real Stripe's parent shape is read too.
    one_off = {
        "lines": {
            "data": [
                {"type": "invoiceitem", "period": {"start": T0, "end": T0}},
                _line(T0, T0 + MONTH, proration=True),
                {
                    "parent": {
                        "type": "subscription_item_details",
                        "subscription_item_details": {"proration": True},
                    },
                    "period": {"start": T0, "end": T0 + MONTH},
                },
            ]
        }
    }
    assert shapes.months_covered(one_off) == []
    real = {
        "lines": {
            "data": [
                {
                    "parent": {
                        "type": "subscription_item_details",
                        "subscription_item_details": {"proration": False},
                    },
                    "period": {"start": T0, "end": T0 + MONTH},
                }
            ]
        }
    }
    assert shapes.months_covered(real) == [date(2026, 11, 1)]
