"""Reading Stripe objects (plain dicts) the same way whatever their shape.

Real Stripe answers in the API version stripe-python pins (2026-10-28.endive); the emulator in
its own older shape. The differences that matter to us, and where each is read here:

* period end: `items.data[0].current_period_end` (basil+) or `current_period_end` (older);
* an invoice's subscription: `parent.subscription_details.subscription` (both) or `subscription`;
* a payment's outcome: the invoice's `payment_intent` (older) or its `payments` and
  `confirmation_secret` (basil+);
* a line's proration flag and subscription: `parent.subscription_item_details` or top level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

# Stripe subscription status -> engagement status (our access policy; see README).
ENDS_ACCESS = frozenset({"unpaid", "paused"})
ENGAGEMENT_STATUS = {
    "incomplete": "pending_payment",
    "active": "active",
    "trialing": "active",
    "past_due": "past_due",
    # Stripe's retries are exhausted (unpaid) or collection stopped (paused): no access. The
    # subscription is canceled in Stripe too, so it cannot start charging again on its own.
    "unpaid": "canceled",
    "paused": "canceled",
    "canceled": "canceled",
    "incomplete_expired": "canceled",
}


def ts(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value is not None else None


def subscription_item(sub: dict[str, Any]) -> dict[str, Any] | None:
    items = (sub.get("items") or {}).get("data") or []
    return items[0] if items else None


def plan_id(item: dict[str, Any] | None) -> str | None:
    if not item:
        return None
    plan = item.get("plan") or item.get("price") or {}
    return plan.get("id") if isinstance(plan, dict) else str(plan)


def period_start(sub: dict[str, Any]) -> datetime | None:
    item = subscription_item(sub)
    if item and item.get("current_period_start") is not None:
        return ts(item["current_period_start"])
    return ts(sub.get("current_period_start"))


def period_end(sub: dict[str, Any]) -> datetime | None:
    item = subscription_item(sub)
    if item and item.get("current_period_end") is not None:
        return ts(item["current_period_end"])
    return ts(sub.get("current_period_end"))


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return str(value) if value else None


def invoice_subscription_id(invoice: dict[str, Any]) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def customer_id(obj: dict[str, Any]) -> str | None:
    """The customer a subscription or invoice belongs to (an id, or an expanded customer)."""
    return _id(obj.get("customer"))


def object_ids(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """(subscription id, invoice id) an event is about, or Nones when it is not ours."""
    obj = (event.get("data") or {}).get("object") or {}
    kind = obj.get("object")
    if kind == "subscription":
        return obj.get("id"), None
    if kind == "invoice":
        return invoice_subscription_id(obj), obj.get("id")
    return None, None


@dataclass(frozen=True)
class PaymentOutcome:
    status: str | None  # paid, requires_action, failed, or None (not attempted yet)
    failure_reason: str | None = None
    client_secret: str | None = None


def _payment_intents(invoice: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    pi = invoice.get("payment_intent")
    if isinstance(pi, dict):
        out.append(pi)
    for payment in (invoice.get("payments") or {}).get("data") or []:
        nested = (payment.get("payment") or {}).get("payment_intent")
        if isinstance(nested, dict):
            out.append(nested)
    return out


def payment_intent_id(invoice: dict[str, Any]) -> str | None:
    """The id of the payment intent that paid `invoice` (either API shape, expanded or not)."""
    candidates = [invoice.get("payment_intent")] + [
        (payment.get("payment") or {}).get("payment_intent")
        for payment in (invoice.get("payments") or {}).get("data") or []
    ]
    for pi in candidates:
        found = _id(pi)
        if found:
            return found
    return None


def payment_outcome(invoice: dict[str, Any] | None) -> PaymentOutcome:
    if not invoice:
        return PaymentOutcome(None)
    status = invoice.get("status")
    if status == "paid" or (status == "open" and invoice.get("amount_due") == 0):
        return PaymentOutcome("paid")
    if status in ("void", "uncollectible"):
        return PaymentOutcome("failed", f"The invoice is {status}.")
    for pi in _payment_intents(invoice):
        if pi.get("status") == "requires_action":
            secret = pi.get("client_secret") or (invoice.get("confirmation_secret") or {}).get(
                "client_secret"
            )
            return PaymentOutcome(
                "requires_action", "The card needs 3-D Secure authentication.", secret
            )
        error = pi.get("last_payment_error")
        if error:
            reason = error.get("message") or error.get("code") or "The card was declined."
            return PaymentOutcome("failed", reason)
    if invoice.get("attempted"):
        return PaymentOutcome("failed", "The payment did not go through.")
    return PaymentOutcome(None)


def _line_proration(line: dict[str, Any]) -> bool:
    details = (line.get("parent") or {}).get("subscription_item_details") or {}
    return bool(details.get("proration", line.get("proration", False)))


def _is_subscription_line(line: dict[str, Any]) -> bool:
    parent = line.get("parent") or {}
    return line.get("type") == "subscription" or parent.get("type") == "subscription_item_details"


def period_months(start: datetime, end: datetime) -> list[date]:
    """The first day of each month a subscription period [start, end) pays for: one per month
    of its interval (a year covers twelve), from the UTC month it starts in. Stripe anchors a
    period's end on its start's day of the month, or the month's last day when it has fewer
    (31 January to 28 February), so the length is rounded to whole months."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    count = max(1, round((end - start).days / 30.44))
    first = date(start.year, start.month, 1)
    months = []
    for i in range(count):
        y, m = divmod(first.month - 1 + i, 12)
        months.append(date(first.year + y, m + 1, 1))
    return months


def months_covered(invoice: dict[str, Any]) -> list[date]:
    """The first day of each month a paid invoice pays the subscription for: its regular
    (non-proration) subscription line's period (`period_months`). One-off lines (fees,
    discounts, plan-change differences) cover none."""
    months: list[date] = []
    for line in (invoice.get("lines") or {}).get("data") or []:
        if not _is_subscription_line(line) or _line_proration(line):
            continue
        period = line.get("period") or {}
        start, end = ts(period.get("start")), ts(period.get("end"))
        if start is None or end is None:
            continue
        months += period_months(start, end)
    return sorted(set(months))
