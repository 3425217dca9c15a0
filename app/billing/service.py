"""The names that used to live here, kept for the callers that still import them from here
(tests). New code imports from the module that does the job:

- `access`: `load_for_admin`, `refuse_when_canceled`, `EngagementNotBillable`
- `customers`: the Stripe customer, the SetupIntent, attaching the card
- `invoice_items`: pending invoice items created at most once
- `subscriptions` (subscribe), `cancellation`, `scope_change`, `invoices`, `expiry` (unpaid
  engagements), `reconcile`, `stripe_events` (incoming Stripe webhook events)
- `amounts`: the arithmetic without I/O (period price, proration, scope re-pricing, payout
  re-split)
"""

from __future__ import annotations

from app.billing.amounts import prorated_difference
from app.billing.expiry import expire_unpaid, overdue_engagements
from app.billing.subscriptions import subscribe

__all__ = [
    "expire_unpaid",
    "overdue_engagements",
    "prorated_difference",
    "subscribe",
]
