"""The only module that talks to Stripe (and the only one importing `stripe`).

One async `StripeClient` over httpx, built in the lifespan. Every call is a `*_async` call; every
POST carries a deterministic idempotency key derived from our own ids (real Stripe replays the
first answer for 24 hours; the emulator ignores keys, so callers also enforce at-most-once in
the database). Errors come out as ours:

* network failures, timeouts, rate limits and Stripe 5xx → `UpstreamUnavailable` (503);
* a declined card → `CardDeclined` (the caller decides what the clinic sees);
* anything else is a bug in our request and propagates.

`STRIPE_BACKEND=localstripe` selects the emulator's capability map: features it lacks are
switched off here, in one place, instead of being special-cased across the code.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import stripe
import structlog

from app.config import Settings, StripeBackend
from app.errors import AppError, UpstreamUnavailable

log = structlog.get_logger(__name__)

PRODUCT_ID = "mdmatch-medical-director"
PRODUCT_NAME = "mdmatch medical director oversight"


@dataclass(frozen=True)
class Capabilities:
    """What the backend supports beyond the common subset (Plans, one-item subscriptions,
    SetupIntents, invoice items, invoices, refunds)."""

    proration_behavior: bool
    confirmation_secret: bool  # invoices expose `confirmation_secret` (real Stripe, basil+)
    connect: bool
    coupons: bool
    test_clocks: bool

    @classmethod
    def for_backend(cls, backend: StripeBackend) -> Capabilities:
        real = backend is StripeBackend.stripe
        return cls(
            proration_behavior=real,
            confirmation_secret=real,
            connect=real,
            coupons=real,
            test_clocks=real,
        )


class CardDeclined(Exception):
    """The card was refused (when attached or charged)."""

    def __init__(self, message: str, code: str | None, decline_code: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.decline_code = decline_code


class SignatureInvalid(Exception):
    pass


class StripeRejected(AppError):
    """Stripe refused a request for a reason other than a card or its availability (our request
    or our account is wrong). Logged with Stripe's message; the client sees a 502."""

    status, slug, title = 502, "upstream-error", "Stripe refused the request"

    def __init__(self, detail: str, *, stripe_status: int | None, code: str | None) -> None:
        super().__init__(detail, stripe_code=code)
        self.stripe_status = stripe_status
        self.code = code


class StripeNotFound(StripeRejected):
    """Stripe has no such object (deleted, or not made by us)."""


def _is_retryable(exc: stripe.StripeError) -> bool:
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    status = exc.http_status
    return status is None or status >= 500


class StripeGateway:
    def __init__(
        self,
        *,
        api_key: str,
        webhook_secret: str | None,
        backend: StripeBackend,
        api_base: str | None = None,
        timeout: float = 10.0,
        max_network_retries: int = 2,
    ) -> None:
        self.backend = backend
        self.capabilities = Capabilities.for_backend(backend)
        self._webhook_secret = webhook_secret
        self._http = stripe.HTTPXClient(timeout=timeout)
        retries = 0 if backend is StripeBackend.localstripe else max_network_retries
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=retries,
        )
        self._v1 = self._client.v1

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeGateway | None:
        if settings.stripe_secret_key is None:
            return None
        secret = settings.stripe_webhook_secret
        return cls(
            api_key=settings.stripe_secret_key.get_secret_value(),
            webhook_secret=secret.get_secret_value() if secret else None,
            backend=settings.stripe_backend,
            api_base=settings.stripe_api_base,
            timeout=settings.stripe_timeout_seconds,
            max_network_retries=settings.stripe_max_network_retries,
        )

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self._http.close_async()  # type: ignore[no-untyped-call]

    async def _call(
        self, what: str, call: Callable[[], Awaitable[Any]], *, exists_ok: bool = False
    ) -> dict[str, Any]:
        """Run one Stripe call; its answer as a plain dict (no stripe types leave this module).
        `exists_ok`: "already exists" (emulator 409, Stripe resource_already_exists) is success."""
        try:
            result = await call()
            return dict(result.to_dict())
        except stripe.CardError as exc:
            error = exc.error
            raise CardDeclined(
                exc.user_message or str(exc),
                getattr(error, "code", None) if error else exc.code,
                getattr(error, "decline_code", None) if error else None,
            ) from exc
        except stripe.StripeError as exc:
            if exists_ok and (exc.http_status == 409 or exc.code == "resource_already_exists"):
                return {}
            if _is_retryable(exc):
                log.warning("stripe_unavailable", call=what, status=exc.http_status)
                raise UpstreamUnavailable(
                    "Stripe could not be reached; nothing was changed. Please try again."
                ) from exc
            log.error(
                "stripe_rejected",
                call=what,
                status=exc.http_status,
                code=exc.code,
                stripe_message=exc.user_message or str(exc)[:300],
            )
            cls = StripeNotFound if exc.http_status == 404 else StripeRejected
            raise cls(
                f"Stripe refused {what} ({exc.http_status}, {exc.code or 'no code'}).",
                stripe_status=exc.http_status,
                code=exc.code,
            ) from exc

    # --- webhooks --------------------------------------------------------------------------

    def verify_event(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event as a plain dict, if `signature` is Stripe's over exactly `payload`."""
        if not self._webhook_secret or not signature:
            raise SignatureInvalid("missing signature or secret")
        try:
            # Stripe's own check (HMAC over "t.payload", 5-minute tolerance), then plain JSON:
            # no StripeObject is built for a body we only store.
            stripe.WebhookSignature.verify_header(
                payload, signature, self._webhook_secret, stripe.Webhook.DEFAULT_TOLERANCE
            )
            event = json.loads(payload)
        # RecursionError: a body of deeply nested arrays, signed or not, is no Stripe event.
        except (ValueError, RecursionError, stripe.SignatureVerificationError) as exc:
            raise SignatureInvalid(str(exc)[:200]) from exc
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("id"), str)
            or not _is_timestamp(event.get("created", 0))
        ):
            raise SignatureInvalid("not a Stripe event")
        return event

    async def list_events(self, *, limit: int = 100) -> list[dict[str, Any]]:
        page = await self._call("events.list", lambda: self._v1.events.list_async({"limit": limit}))
        return list(page["data"])

    # --- catalog ---------------------------------------------------------------------------

    async def ensure_plan(self, *, amount_cents: int, interval: str, currency: str) -> str:
        """The Plan for this amount and interval (one per distinct price), created on first use.
        Plans work on both backends; ids are ours, so creating twice is "already exists"."""
        plan_id = f"mdmatch-{interval}-{currency}-{amount_cents}"
        await self._create_if_missing(
            "products.create",
            lambda: self._v1.products.create_async(
                {"id": PRODUCT_ID, "name": PRODUCT_NAME},
                {"idempotency_key": f"product:{PRODUCT_ID}"},
            ),
        )
        await self._create_if_missing(
            "plans.create",
            lambda: self._v1.plans.create_async(
                {
                    "id": plan_id,
                    "product": PRODUCT_ID,
                    "amount": amount_cents,
                    "currency": currency,
                    "interval": interval,
                    "nickname": f"Medical director, {amount_cents / 100:,.2f} {currency} per "
                    f"{interval}",
                },
                {"idempotency_key": f"plan:{plan_id}"},
            ),
        )
        return plan_id

    async def _create_if_missing(self, what: str, call: Callable[[], Awaitable[Any]]) -> None:
        await self._call(what, call, exists_ok=True)

    # --- customers and cards ---------------------------------------------------------------

    async def create_customer(self, *, clinic_id: str, name: str, email: str, key: str) -> str:
        customer = await self._call(
            "customers.create",
            lambda: self._v1.customers.create_async(
                {"name": name, "email": email, "metadata": {"clinic_id": clinic_id}},
                {"idempotency_key": key},
            ),
        )
        return str(customer["id"])

    async def find_customer(self, *, clinic_id: str, email: str) -> str | None:
        """A customer created for this clinic whose id we failed to record (a crash between
        Stripe's answer and our commit); real Stripe's idempotency key covers 24 h, this any
        time, and it is what protects us on the emulator."""
        page = await self._call(
            "customers.list",
            lambda: self._v1.customers.list_async({"email": email, "limit": 100}),
        )
        for customer in page["data"]:
            if (customer.get("metadata") or {}).get("clinic_id") == clinic_id:
                return str(customer["id"])
        return None

    async def create_setup_intent(
        self, *, customer: str, engagement_id: str, key: str
    ) -> dict[str, Any]:
        params: Any = {
            "customer": customer,
            "payment_method_types": ["card"],
            "usage": "off_session",
            "metadata": {"engagement_id": engagement_id},
        }
        return await self._call(
            "setup_intents.create",
            lambda: self._v1.setup_intents.create_async(params, {"idempotency_key": key}),
        )

    async def retrieve_setup_intent(self, setup_intent_id: str) -> dict[str, Any]:
        return await self._call(
            "setup_intents.retrieve", lambda: self._v1.setup_intents.retrieve_async(setup_intent_id)
        )

    async def attach_default_card(self, *, customer: str, payment_method: str, key: str) -> str:
        """Attach the card (the emulator does not on SetupIntent confirmation; on real Stripe
        attaching again to the same customer is harmless) and make it the customer's default,
        which every invoice of the subscription charges. Returns the attached card's id."""
        attached = await self._call(
            "payment_methods.attach",
            lambda: self._v1.payment_methods.attach_async(
                payment_method, {"customer": customer}, {"idempotency_key": f"{key}:attach"}
            ),
        )
        await self._call(
            "customers.update",
            lambda: self._v1.customers.update_async(
                customer,
                {"invoice_settings": {"default_payment_method": attached["id"]}},
                {"idempotency_key": f"{key}:default"},
            ),
        )
        return str(attached["id"])

    # --- invoice items, subscriptions, invoices --------------------------------------------

    async def create_invoice_item(
        self,
        *,
        customer: str,
        amount_cents: int,
        currency: str,
        description: str,
        metadata: dict[str, str],
        key: str,
    ) -> str:
        """A pending invoice item: it lands on the customer's next invoice (the first one of
        the subscription when created just before it)."""
        item = await self._call(
            "invoiceitems.create",
            lambda: self._v1.invoice_items.create_async(
                {
                    "customer": customer,
                    "amount": amount_cents,
                    "currency": currency,
                    "description": description,
                    "metadata": metadata,
                },
                {"idempotency_key": key},
            ),
        )
        return str(item["id"])

    async def list_invoice_items(self, *, customer: str) -> list[dict[str, Any]]:
        page = await self._call(
            "invoiceitems.list",
            lambda: self._v1.invoice_items.list_async({"customer": customer, "limit": 100}),
        )
        return list(page["data"])

    async def delete_invoice_item(self, item_id: str) -> None:
        await self._call(
            "invoiceitems.delete", lambda: self._v1.invoice_items.delete_async(item_id)
        )

    def _invoice_expand(self, prefix: str = "") -> list[str]:
        """What to expand on an invoice to see why a payment failed or needs 3-D Secure: the
        payment intent on the emulator; on real Stripe (basil+) the confirmation secret and the
        payments (the invoice no longer links its payment intent; Stripe expands at most four
        levels, so the payment intents are fetched by `_with_payment_intents`)."""
        dot = f"{prefix}." if prefix else ""
        if self.capabilities.confirmation_secret:
            return [f"{dot}confirmation_secret", f"{dot}payments"]
        return [f"{dot}payment_intent"]

    async def _with_payment_intents(self, invoice: Any) -> None:
        """Real Stripe: replace the payment-intent ids of an unpaid invoice's payments with the
        payment intents (their status and last error explain the payment)."""
        if not isinstance(invoice, dict) or invoice.get("status") == "paid":
            return
        for payment in (invoice.get("payments") or {}).get("data") or []:
            inner = payment.get("payment") or {}
            pi = inner.get("payment_intent")
            if isinstance(pi, str):
                inner["payment_intent"] = await self._retrieve_payment_intent(pi)

    async def _retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return await self._call(
            "payment_intents.retrieve",
            lambda: self._v1.payment_intents.retrieve_async(payment_intent_id),
        )

    async def _subscription_with_payment(self, sub: dict[str, Any]) -> dict[str, Any]:
        if self.capabilities.confirmation_secret:
            await self._with_payment_intents(sub.get("latest_invoice"))
        return sub

    async def create_subscription(
        self, *, customer: str, plan_id: str, metadata: dict[str, str], key: str
    ) -> dict[str, Any]:
        sub = await self._call(
            "subscriptions.create",
            lambda: self._v1.subscriptions.create_async(
                {
                    "customer": customer,
                    "items": [{"plan": plan_id, "quantity": 1}],
                    "metadata": metadata,
                    "expand": self._invoice_expand("latest_invoice"),
                },
                {"idempotency_key": key},
            ),
        )
        return await self._subscription_with_payment(sub)

    async def find_subscription(
        self, *, customer: str, engagement_id: str
    ) -> dict[str, Any] | None:
        """The subscription created for this engagement, if any (see `find_customer`)."""
        page = await self._call(
            "subscriptions.list",
            lambda: self._v1.subscriptions.list_async(
                {"customer": customer, "status": "all", "limit": 100}
            ),
        )
        for sub in page["data"]:
            if (sub.get("metadata") or {}).get("engagement_id") == engagement_id:
                return await self.retrieve_subscription(str(sub["id"]))
        return None

    async def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        sub = await self._call(
            "subscriptions.retrieve",
            lambda: self._v1.subscriptions.retrieve_async(
                subscription_id, {"expand": self._invoice_expand("latest_invoice")}
            ),
        )
        return await self._subscription_with_payment(sub)

    async def retrieve_invoice(self, invoice_id: str) -> dict[str, Any]:
        invoice = await self._call(
            "invoices.retrieve",
            lambda: self._v1.invoices.retrieve_async(
                invoice_id, {"expand": self._invoice_expand()}
            ),
        )
        if self.capabilities.confirmation_secret:
            await self._with_payment_intents(invoice)
        return invoice

    async def list_invoices(self, *, customer: str) -> AsyncIterator[dict[str, Any]]:
        params: Any = {"customer": customer, "limit": 100}
        while True:
            page = await self._call("invoices.list", lambda: self._v1.invoices.list_async(params))
            for invoice in page["data"]:
                yield invoice
            if not page.get("has_more") or not page["data"]:
                return
            params["starting_after"] = page["data"][-1]["id"]

    async def pay_invoice(self, invoice_id: str, *, key: str) -> dict[str, Any]:
        """Charge the customer's default card for an open invoice."""
        return await self._call(
            "invoices.pay",
            lambda: self._v1.invoices.pay_async(invoice_id, {}, {"idempotency_key": key}),
        )

    async def create_invoice(self, *, customer: str, subscription: str, key: str) -> dict[str, Any]:
        return await self._call(
            "invoices.create",
            lambda: self._v1.invoices.create_async(
                {"customer": customer, "subscription": subscription},
                {"idempotency_key": key},
            ),
        )

    async def change_plan(
        self, *, subscription_id: str, item_id: str, plan_id: str, key: str
    ) -> dict[str, Any]:
        """Move the subscription's one item to `plan_id`. Real Stripe prorates onto the next
        invoice; the emulator cannot prorate (the billing service bills the difference)."""
        params: Any = {"items": [{"id": item_id, "plan": plan_id, "quantity": 1}]}
        if self.capabilities.proration_behavior:
            # The difference lands on the next invoice (as the emulator path bills it).
            params["proration_behavior"] = "create_prorations"
        return await self._call(
            "subscriptions.update",
            lambda: self._v1.subscriptions.update_async(
                subscription_id, params, {"idempotency_key": key}
            ),
        )

    async def cancel_at_period_end(
        self, subscription_id: str, *, flag: bool, key: str
    ) -> dict[str, Any]:
        return await self._call(
            "subscriptions.update",
            lambda: self._v1.subscriptions.update_async(
                subscription_id, {"cancel_at_period_end": flag}, {"idempotency_key": key}
            ),
        )

    async def create_transfer(
        self, *, amount_cents: int, currency: str, destination: str, group: str, key: str
    ) -> str:
        """A Connect transfer to a director's connected account (real Stripe only)."""
        if not self.capabilities.connect:
            raise RuntimeError("Stripe Connect is not available on this backend")
        transfer = await self._call(
            "transfers.create",
            lambda: self._v1.transfers.create_async(
                {
                    "amount": amount_cents,
                    "currency": currency,
                    "destination": destination,
                    "transfer_group": group,
                },
                {"idempotency_key": key},
            ),
        )
        return str(transfer["id"])

    async def create_refund(
        self, *, payment_intent: str, amount_cents: int, key: str, metadata: dict[str, str]
    ) -> dict[str, Any]:
        return await self._call(
            "refunds.create",
            lambda: self._v1.refunds.create_async(
                {"payment_intent": payment_intent, "amount": amount_cents, "metadata": metadata},
                {"idempotency_key": key},
            ),
        )

    async def cancel_now(self, subscription_id: str) -> dict[str, Any]:
        try:
            return await self._call(
                "subscriptions.cancel",
                lambda: self._v1.subscriptions.cancel_async(subscription_id),
            )
        except StripeRejected as exc:
            # Already canceled (or incomplete_expired): the goal is reached.
            if exc.stripe_status == 400:
                return await self.retrieve_subscription(subscription_id)
            raise


def _is_timestamp(value: object) -> bool:
    """Unix seconds Python can turn into a date (Stripe's `created`; bounded so a signed but
    absurd value is refused, not a server error)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**35
