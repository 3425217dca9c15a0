"""`mdmatch demo`: the whole journey against a running local server, over its public HTTP API.

A physician signs up and is verified (against the local NPPES stand-in), a clinic gets a quote,
submits an intake, a demo physician who got an offer accepts, the clinic confirms, pays with a
test card (the browser's part done by app/devtools/stripe_js.py, as `mdmatch pay` does), sees its
invoice, changes scope and cancels. Every call is printed with its status and the answer's key
fields; any answer the journey does not expect stops the tour (TourFailed).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape

from app.devtools.nppes import derived_name
from app.devtools.stripe_js import NothingToPay, NotTheEmulator, Paid, TestCard, pay
from app.kit.clock import today
from app.physicians.demo import DEMO_DOMAIN, DEMO_OPS_EMAIL, DEMO_OPS_PASSWORD, DEMO_PASSWORD
from app.physicians.npi import make_npi

# The tour's own accounts: a fresh pair on every run (nothing of an earlier run is reused).
TOUR_PASSWORD = "Tour-Juniper-Harbor-71"  # noqa: S105 - throwaway accounts on a local server
CLINIC_STATE, CLINIC_ZIP = "TX", "78701"
# The tour's own physician is licensed elsewhere, so the TX offers go to the demo roster.
PHYSICIAN_STATE, PHYSICIAN_ZIP = "CO", "80202"
# A minimal, well-formed PDF standing for the physician's scanned documents.
TOUR_PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
WAIT_SECONDS = 20
MAX_RATE_LIMIT_WAIT = 65
# Compliance documents are made by the task worker after confirmation: poll this long for them.
DOCUMENT_POLLS = 120
DOCUMENT_POLL_SECONDS = 0.25

Show = Callable[[Any], dict[str, Any]]


class TourFailed(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _fields(*keys: str) -> Show:
    return lambda body: {k: body.get(k) for k in keys} if isinstance(body, dict) else {}


def _money(cents: int | None) -> str:
    return "-" if cents is None else f"${cents / 100:,.2f}"


def _in_days(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


def _tour_npi() -> str:
    # 15xxxxxxx: outside the demo roster's block of NPIs (1900000xx).
    return make_npi(f"15{secrets.randbelow(10**7):07d}")


def _is_demo_physician(email: str) -> bool:
    return email.startswith("demo-physician-") and email.endswith(f"@{DEMO_DOMAIN}")


class Tour:
    def __init__(
        self,
        http: httpx.AsyncClient,
        stripe: httpx.AsyncClient,
        console: Console,
        card: TestCard = TestCard.success,
    ) -> None:
        self.http, self.stripe, self.out, self.card = http, stripe, console, card
        self.run_id = secrets.token_hex(3)

    # --- printing and calling ------------------------------------------------------------

    def act(self, title: str) -> None:
        self.out.rule(f"[bold]{escape(title)}")

    def _line(self, method: str, path: str, status: int, fields: dict[str, Any]) -> None:
        colour = "green" if status < 400 else "red"
        shown = "  ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, "", [], {}))
        self.out.print(
            f"[bold]{method:<5}[/bold] {escape(path)} [{colour}]{status}[/{colour}]"
            + (f"  [dim]{escape(shown)}[/dim]" if shown else ""),
            soft_wrap=True,
        )

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        expect: int | Iterable[int] = 200,
        show: Show | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        expected = {expect} if isinstance(expect, int) else set(expect)
        answer = await self._send(method, path, headers, kwargs)
        if answer.status_code == 429 and 429 not in expected:
            # Logins are rate limited per address (10 a minute by default): a second tour
            # right after the first waits its turn instead of failing.
            wait = int(answer.headers.get("Retry-After", "0") or 0)
            if 0 < wait <= MAX_RATE_LIMIT_WAIT:
                self._line(method, path, 429, {"rate_limited": f"waiting {wait} s"})
                await asyncio.sleep(wait)
                answer = await self._send(method, path, headers, kwargs)
        try:
            body = answer.json()
        except ValueError:
            body = answer.text
        ok = answer.status_code in expected
        self._line(method, path, answer.status_code, show(body) if ok and show else {})
        if not ok:
            detail = body.get("detail") if isinstance(body, dict) else str(body)[:300]
            errors = body.get("errors") if isinstance(body, dict) else None
            raise TourFailed(
                f"{method} {path} answered {answer.status_code}, expected "
                f"{' or '.join(map(str, sorted(expected)))}: {detail}"
                + (f" {errors}" if errors else ""),
                answer.status_code,
            )
        return body

    async def _send(
        self, method: str, path: str, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> httpx.Response:
        try:
            return await self.http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise TourFailed(
                f"{method} {path}: the server at {self.http.base_url} does not answer "
                f"({type(exc).__name__}); is `mdmatch serve` running?"
            ) from exc

    async def login(self, email: str, password: str) -> str:
        body = await self.call(
            "POST",
            "/v1/auth/token",
            data={"username": email, "password": password},
            show=lambda b: {"as": email, "expires_in": b.get("expires_in")},
        )
        return str(body["access_token"])

    async def browser_pays(self, engagement_id: str, card: TestCard) -> Paid:
        """The clinic's browser: Stripe.js against the emulator (what `mdmatch pay` does)."""
        try:
            paid = await pay(self.stripe, engagement_id, card)
        except (NotTheEmulator, NothingToPay) as exc:
            raise TourFailed(f"Paying with the {card} test card: {exc}") from exc
        self.out.print(
            f"[bold magenta]Stripe.js[/bold magenta] (mdmatch pay --card {card}): "
            f"{escape(paid.done)} [dim]status={paid.status}[/dim]",
            soft_wrap=True,
        )
        return paid

    # --- the journey ---------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        await self.call("GET", "/readyz", show=_fields("status"))
        ops = await self.ops_login()
        await self.physician_is_verified(ops)
        clinic_token, clinic, intake = await self.clinic_asks_for_a_director()
        offer, doctor = await self.demo_physician_gets_the_offer(ops, clinic_token, intake)
        await self.call(
            "POST",
            f"/v1/offers/{offer}/accept",
            token=doctor,
            show=_fields("id", "status"),
        )
        self.act("The clinic confirms and pays")
        engagement = await self.call(
            "POST",
            f"/v1/intakes/{intake['id']}/confirm",
            token=clinic_token,
            expect=201,
            show=lambda b: {
                "engagement": b["id"],
                "status": b["status"],
                "monthly": _money(b["quote"]["monthly_total_cents"]),
            },
        )
        await self.subscribe(clinic_token, str(engagement["id"]))
        await self.sign_documents(clinic_token, doctor, str(engagement["id"]))
        await self.invoices(clinic_token, clinic["id"])
        ending = await self.run_the_engagement(clinic_token, str(engagement["id"]))
        self.out.rule("[bold green]Tour complete")
        self.out.print(
            f"[bold green]Tour complete:[/bold green] engagement {engagement['id']} was paid, "
            f"changed and canceled (status {ending['status']}, ends on {ending.get('ends_on')}).",
            soft_wrap=True,
        )
        return dict(ending)

    async def ops_login(self) -> str:
        self.act("Operations (the demo account local mode seeds)")
        try:
            return await self.login(DEMO_OPS_EMAIL, DEMO_OPS_PASSWORD)
        except TourFailed as exc:
            if exc.status != 401:
                raise
            raise TourFailed(
                f"{exc} - the demo accounts are missing: local `mdmatch serve` seeds them unless "
                "started with --no-demo-data (or run `mdmatch seed --demo`)."
            ) from exc

    async def physician_is_verified(self, ops: str) -> None:
        self.act("A physician signs up and is verified against the NPPES stand-in")
        email = f"tour-physician-{self.run_id}@example.com"
        await self.call(
            "POST",
            "/v1/auth/register",
            json={"email": email, "password": TOUR_PASSWORD, "role": "physician"},
            expect=201,
            show=_fields("id", "email", "role"),
        )
        token = await self.login(email, TOUR_PASSWORD)
        npi = _tour_npi()
        # The stand-in's made-up name for this NPI, so verification finds the names matching
        # (for a physician of your own: `mdmatch nppes add NPI --first-name .. --last-name ..`).
        first, last = derived_name(npi)
        profile = await self.call(
            "POST",
            "/v1/physicians",
            token=token,
            expect=201,
            json={
                "npi": npi,
                "first_name": first,
                "last_name": last,
                "degree": "MD",
                "specialties": ["dermatology"],
                "years_experience": 12,
                "aesthetic_years": 8,
                "services": ["neurotoxins", "dermal_fillers"],
                "engagement_models": ["retainer"],
                "oversight_modes": ["remote"],
                "home_zip": PHYSICIAN_ZIP,
                "travel_radius_miles": 50,
                "max_clinics": 4,
                "max_supervisees": 16,
                "min_monthly_rate_cents": 60000,
                "accepting_new": True,
            },
            show=lambda b: {
                "id": b["id"],
                "name": f"Dr. {b['first_name']} {b['last_name']}",
                "verification_status": b["verification_status"],
            },
        )
        license_ = await self.call(
            "POST",
            "/v1/physicians/me/licenses",
            token=token,
            expect=201,
            json={
                "state": PHYSICIAN_STATE,
                "number": f"DR.{secrets.randbelow(10**6):06d}",
                "expires_on": _in_days(400),
            },
            show=_fields("state", "status"),
        )
        policy = await self.call(
            "POST",
            "/v1/physicians/me/malpractice",
            token=token,
            expect=201,
            json={
                "carrier": "The Doctors Company",
                "policy_number": f"TDC-{secrets.randbelow(10**6):06d}",
                "per_claim_cents": 100_000_000,
                "aggregate_cents": 300_000_000,
                "expires_on": _in_days(300),
            },
            show=_fields("carrier", "status"),
        )
        result = await self.call(
            "POST",
            f"/v1/physicians/{profile['id']}/verify",
            token=ops,
            show=_fields("verification_status", "reasons"),
        )
        if result["verification_status"] != "verified":
            raise TourFailed(
                f"Verification answered {result['verification_status']}: {result['reasons']} "
                "(is the server using the local NPPES stand-in? NPPES_BASE_URL must be unset)"
            )
        await self.credentials_by_document(ops, token, license_["id"], policy["id"])

    async def credentials_by_document(
        self, ops: str, token: str, license_id: str, policy_id: str
    ) -> None:
        self.act("Its credentials: each verified at its source (here, documents operations review)")
        await self.call(
            "GET",
            "/v1/physicians/me/credential-checks",
            token=token,
            show=lambda b: {
                c["label"]: f"{c['status']} via {c['route']}" for c in b["credentials"]
            },
        )
        for kind, credential_id, document in (
            ("license", license_id, "board_printout"),
            ("malpractice", policy_id, "malpractice_coi"),
        ):
            uploaded = await self.call(
                "POST",
                "/v1/physicians/me/credential-documents",
                token=token,
                expect=201,
                data={
                    "credential_kind": kind,
                    "credential_id": credential_id,
                    "document_kind": document,
                },
                files={"file": (f"{document}.pdf", TOUR_PDF, "application/pdf")},
                show=_fields("document_kind", "status"),
            )
            await self.call(
                "POST",
                f"/v1/review-items/{uploaded['review_item_id']}/decision",
                token=ops,
                json={"decision": "approve", "reason": "the document matches the record"},
                show=_fields("kind", "status"),
            )
        await self.call(
            "GET",
            "/v1/physicians/me/credential-checks",
            token=token,
            show=lambda b: {
                c["label"]: f"{c['status']} by {(c['latest_check'] or {}).get('method')}"
                for c in b["credentials"]
            },
        )

    async def clinic_asks_for_a_director(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        self.act("A clinic signs up, gets a quote and submits its intake")
        email = f"tour-clinic-{self.run_id}@example.com"
        await self.call(
            "POST",
            "/v1/auth/register",
            json={"email": email, "password": TOUR_PASSWORD, "role": "clinic_admin"},
            expect=201,
            show=_fields("id", "email", "role"),
        )
        token = await self.login(email, TOUR_PASSWORD)
        scope: dict[str, Any] = {
            "services": ["neurotoxins", "dermal_fillers"],
            "providers": [{"type": "rn", "count": 2}],
            "engagement_model": "retainer",
            "oversight_mode": "remote",
            "billing_interval": "month",
            "monthly_patient_volume": 150,
            "desired_start": _in_days(14),
            "rush": False,
        }
        await self.call(
            "POST",
            "/v1/quotes",
            json={
                **scope,
                "locations": [{"state": CLINIC_STATE, "zip": CLINIC_ZIP}],
                "ownership_model": "mso",
            },
            show=_quote_fields,
        )
        clinic = await self.call(
            "POST",
            "/v1/clinics",
            token=token,
            expect=201,
            json={
                "legal_name": f"Tour Aesthetics {self.run_id} PLLC",
                "ownership_model": "mso",
                "contact": {
                    "name": "Dana Reyes",
                    "email": email,
                    "phone": "+1 512 555 0142",
                },
                "locations": [
                    {
                        "address": "100 Congress Ave",
                        "city": "Austin",
                        "state": CLINIC_STATE,
                        "zip": CLINIC_ZIP,
                    }
                ],
            },
            show=_fields("id", "legal_name"),
        )
        intake = await self.call(
            "POST",
            f"/v1/clinics/{clinic['id']}/intakes",
            token=token,
            expect=201,
            json=scope,
            show=lambda b: {
                "id": b["id"],
                "status": b["status"],
                "flags": [f["code"] for f in b.get("compliance_flags", [])],
            },
        )
        await self.call(
            "POST",
            f"/v1/intakes/{intake['id']}/submit",
            token=token,
            show=_fields("id", "status"),
        )
        return token, clinic, intake

    async def demo_physician_gets_the_offer(
        self, ops: str, clinic_token: str, intake: dict[str, Any]
    ) -> tuple[str, str]:
        """The offer of a demo physician (operations see who got each offer) and that
        physician's token."""
        self.act("Matching: offers go out; a demo physician who got one accepts")
        path = f"/v1/intakes/{intake['id']}/matches"
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            matches = await self.call("GET", path, token=clinic_token, show=_match_fields)
            if any(m["offer_id"] and m["status"] == "offered" for m in matches["items"]):
                break
            if time.monotonic() > deadline:
                raise TourFailed(f"No offer went out within {WAIT_SECONDS} s of submitting")
            await asyncio.sleep(0.5)
        seen_by_ops = await self.call(
            "GET",
            path,
            token=ops,
            show=lambda b: {
                "offered_to": [m["physician"]["email"] for m in b["items"] if m["offer_id"]]
            },
        )
        demo = [
            m
            for m in seen_by_ops["items"]
            if m["offer_id"]
            and m["status"] == "offered"
            and _is_demo_physician(m["physician"].get("email") or "")
        ]
        if not demo:
            raise TourFailed("None of the physicians offered this intake is a demo physician")
        match, email = demo[0], demo[0]["physician"]["email"]
        doctor = await self.login(email, DEMO_PASSWORD)
        offers = await self.call(
            "GET",
            "/v1/physicians/me/offers",
            token=doctor,
            params={"status": "pending"},
            show=lambda b: {"pending": len(b["items"])},
        )
        if not any(o["id"] == match["offer_id"] for o in offers["items"]):
            raise TourFailed("The demo physician's pending offers do not include this intake's")
        await self.call(
            "GET",
            f"/v1/offers/{match['offer_id']}",
            token=doctor,
            show=lambda b: {
                "status": b["status"],
                "payout": _money(b["monthly_payout_cents"]) + "/month",
                "services": ",".join(b["services"]),
                "respond_by": b["respond_by"],
            },
        )
        return str(match["offer_id"]), doctor

    async def subscribe(self, token: str, engagement_id: str) -> None:
        path = f"/v1/engagements/{engagement_id}"
        await self.call(
            "POST", f"{path}/payment-method", token=token, show=_fields("setup_intent_id", "status")
        )
        await self.browser_pays(engagement_id, self.card)
        result = await self.call("POST", f"{path}/subscribe", token=token, show=_engagement_fields)
        if result["payment_status"] == "requires_action":
            await self.browser_pays(engagement_id, self.card)  # the 3-D Secure challenge
            result = await self.call(
                "POST", f"{path}/subscribe", token=token, show=_engagement_fields
            )
        elif result["payment_status"] == "failed":
            self.out.print("[yellow]The card was declined: the clinic enters another one.")
            await self.call(
                "POST",
                f"{path}/payment-method",
                token=token,
                show=_fields("setup_intent_id", "status"),
            )
            await self.browser_pays(engagement_id, TestCard.success)
            result = await self.call(
                "POST", f"{path}/subscribe", token=token, show=_engagement_fields
            )
        if result["status"] != "active":
            raise TourFailed(
                f"The engagement is {result['status']} after paying "
                f"(payment_status {result['payment_status']}: {result.get('failure_reason')})"
            )
        await self.call("GET", path, token=token, show=_engagement_fields)

    async def invoices(self, token: str, clinic_id: str) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            page = await self.call(
                "GET",
                f"/v1/clinics/{clinic_id}/invoices",
                token=token,
                show=lambda b: {
                    "invoices": [
                        f"{i['status']} {_money(i['amount_paid_cents'])} ({len(i['lines'])} lines)"
                        for i in b["items"]
                    ]
                },
            )
            if any(i["status"] == "paid" for i in page["items"]):
                return
            if time.monotonic() > deadline:
                raise TourFailed(f"No paid invoice within {WAIT_SECONDS} s of paying")
            await asyncio.sleep(0.5)

    async def sign_documents(self, clinic: str, doctor: str, engagement_id: str) -> None:
        """The worker generated the engagement's compliance documents on confirmation; the
        clinic and the director sign the medical director agreement, which is then sealed."""
        self.act("The compliance documents: both parties sign, the seal checks out")
        path = f"/v1/engagements/{engagement_id}/documents"
        headers = {"Authorization": f"Bearer {clinic}"}
        listing: dict[str, Any] = {}
        for _ in range(DOCUMENT_POLLS):
            answer = await self._send("GET", path, headers, {})
            if answer.status_code == 200 and answer.json()["documents"]:
                listing = answer.json()
                break
            await asyncio.sleep(DOCUMENT_POLL_SECONDS)
        else:
            raise TourFailed(
                "The engagement's compliance documents were not generated in time; is the "
                "task worker running (mdmatch serve runs one)?"
            )
        self._line(
            "GET",
            path,
            200,
            {
                "documents": len(listing["documents"]),
                "readiness": listing["readiness"]["standing"],
            },
        )
        [agreement] = [
            d for d in listing["documents"] if d["template_key"] == "medical_director_agreement"
        ]
        sign = f"/v1/documents/{agreement['id']}/sign"
        body = {"document_sha256": agreement["sha256"], "consent": True, "intent": True}
        for token, name in ((clinic, "Dana Reyes"), (doctor, "Demo Physician")):
            await self.call(
                "POST",
                sign,
                token=token,
                json=body | {"signer_name": name},
                show=_fields("title", "status"),
            )
        await self.call(
            "POST",
            f"/v1/documents/{agreement['id']}/verify",
            token=clinic,
            show=_fields("ok", "summary"),
        )

    async def run_the_engagement(self, token: str, engagement_id: str) -> dict[str, Any]:
        self.act("The clinic adds a provider, then cancels at the end of the period")
        path = f"/v1/engagements/{engagement_id}"
        await self.call(
            "POST",
            f"{path}/change-scope",
            token=token,
            json={"providers": [{"type": "rn", "count": 3}]},
            show=lambda b: {
                "status": b["status"],
                "monthly": _money(b["quote"]["monthly_total_cents"]),
                "proration": _money(b.get("proration_cents")),
            },
        )
        ending: dict[str, Any] = await self.call(
            "POST",
            f"{path}/cancel",
            token=token,
            json={"at_period_end": True},
            show=_fields("status", "cancel_at_period_end", "ends_on"),
        )
        if ending["status"] != "ending":
            raise TourFailed(f"Canceling at period end left the engagement {ending['status']}")
        return ending


def _quote_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "monthly": _money(body["monthly_total_cents"]),
        "first_invoice": _money(body["first_invoice_cents"]),
        "flags": [f["code"] for f in body.get("compliance_flags", [])],
    }


def _match_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "matches": [
            f"#{m['rank']} {m['physician']['display_name']} {m['status']}" for m in body["items"]
        ]
    }


def _engagement_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": body["status"],
        "payment_status": body.get("payment_status"),
        "failure_reason": body.get("failure_reason"),
        "period_end": body.get("current_period_end"),
    }
