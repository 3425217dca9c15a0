"""E-mail copies of notifications (and the password-reset e-mail), rendered from templates.

Each kind has one template, `templates/<kind>.j2`, that extends a layout and fills a few blocks
(the call to action, an optional note, why the reader receives it). The same file is rendered
twice: through `layout.txt.j2` for the plain-text part and, autoescaped, through `layout.html.j2`
for the HTML alternative. StrictUndefined makes a missing variable an error, never a blank.

The link of the call to action is chosen here, in Python, from the ids the notification's data
carries and the reader's role, so a template never fails on a key a call site did not pass.
Frontend routes (all under PUBLIC_BASE_URL, the base of every link in e-mails):

    clinic app       /clinic/intakes/{intake_id}  /clinic/engagements/{engagement_id}
                     /clinic/invoices/{invoice_id}  /clinic/webhooks
    physician portal /physician/offers/{offer_id}  /physician/engagements/{engagement_id}
                     /physician/credentials/{credential_id}  /physician/profile
    operations       /ops/intakes/{intake_id}  /ops/engagements/{engagement_id}
                     /ops/offers/{offer_id}  /ops/invoices/{invoice_id}
                     /ops/physicians/{physician_id}  /ops/reports/daily  /ops/webhooks
                     /ops/review-items
    everyone         /account/notifications (the notification list and e-mail settings)
                     /reset-password?token=...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined

# kind -> the data keys its link is built from, in order of preference. The reader's role
# decides which of them lead anywhere (a physician has no intake page; a clinic has no offers).
EMAIL_KINDS: dict[str, tuple[str, ...]] = {
    "offer.new": ("offer_id", "intake_id"),
    "offer.withdrawn": ("offer_id",),
    "offer.not_chosen": ("offer_id",),
    "intake.matched": ("intake_id",),
    "intake.accepted_again": ("intake_id",),
    "intake.unmatched": ("intake_id",),
    "engagement.confirmed": ("engagement_id",),
    "engagement.active": ("engagement_id",),
    "engagement.canceled": ("engagement_id",),
    "engagement.canceled_by_operations": ("engagement_id",),
    "engagement.ending": ("engagement_id",),
    "engagement.scope_changed": ("engagement_id",),
    "engagement.director_leaving": ("engagement_id",),
    "engagement.replacement_found": ("engagement_id",),
    "engagement.replacement_exhausted": ("engagement_id",),
    "engagement.backup_search_exhausted": ("engagement_id",),
    "engagement.joined": ("engagement_id",),
    "engagement.oversight_gap": ("engagement_id",),
    "engagement.backup_joined": ("engagement_id",),
    "engagement.backup_takeover": ("engagement_id",),
    "engagement.backup_ended": ("engagement_id",),
    "engagement.cases_report_due": ("engagement_id",),
    "engagement.roster_over_cap": ("engagement_id",),
    "payment.failed": ("engagement_id",),
    "invoice.refunded": ("invoice_id",),
    "credentials.review_needed": (),
    "credentials.exclusion_confirmed": (),
    "credentials.exclusion_cleared": (),
    "credentials.document_approved": ("credential_id",),
    "credentials.document_rejected": ("credential_id",),
    "credentials.document_due": ("credential_id",),
    "credentials.license_recheck_failed": ("credential_id", "physician_id"),
    "credentials.license_verified": ("credential_id",),
    "credentials.license_check_failed": ("credential_id",),
    "credentials.documents_needed": (),
    "verification.result": (),
    "physician.suspended": (),
    "physician.reinstated": (),
    "physician.npi_claim": ("physician_id",),
    "credential.expired": ("credential_id", "physician_id"),
    "credential.expiring": ("credential_id", "physician_id"),
    "documents.ready_to_sign": ("engagement_id",),
    "documents.executed": ("engagement_id",),
    "documents.signing_overdue": ("engagement_id",),
    "documents.filing_due": ("engagement_id",),
    "documents.filing_overdue": ("engagement_id",),
    "ops.daily_summary": (),
    "webhook.delivery_failed": (),
}

_ROUTES: dict[str, dict[str, str]] = {
    "clinic_admin": {
        "intake_id": "/clinic/intakes/{}",
        "engagement_id": "/clinic/engagements/{}",
        "invoice_id": "/clinic/invoices/{}",
    },
    "physician": {
        "offer_id": "/physician/offers/{}",
        "engagement_id": "/physician/engagements/{}",
        "credential_id": "/physician/credentials/{}",
    },
    "ops_admin": {
        "intake_id": "/ops/intakes/{}",
        "engagement_id": "/ops/engagements/{}",
        "offer_id": "/ops/offers/{}",
        "invoice_id": "/ops/invoices/{}",
        "physician_id": "/ops/physicians/{}",
    },
}
# Where a kind without an id in its data leads, per role; then the role's home.
_KIND_PAGES: dict[tuple[str, str], str] = {
    ("verification.result", "physician"): "/physician/profile",
    ("physician.suspended", "physician"): "/physician/profile",
    ("physician.reinstated", "physician"): "/physician/profile",
    ("ops.daily_summary", "ops_admin"): "/ops/reports/daily",
    ("webhook.delivery_failed", "clinic_admin"): "/clinic/webhooks",
    ("webhook.delivery_failed", "ops_admin"): "/ops/webhooks",
    ("credentials.review_needed", "ops_admin"): "/ops/review-items",
    ("credentials.exclusion_confirmed", "physician"): "/physician/profile",
    ("credentials.exclusion_cleared", "physician"): "/physician/profile",
    ("credentials.documents_needed", "physician"): "/physician/profile",
}
_HOMES = {"clinic_admin": "/clinic", "physician": "/physician", "ops_admin": "/ops"}
NOTIFICATIONS_PAGE = "/account/notifications"
PASSWORD_RESET_TEMPLATE = "password_reset"  # noqa: S105 (a template name)


class UnknownEmailKind(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def has_email_template(kind: str) -> bool:
    return kind in EMAIL_KINDS


def link_for(base_url: str, kind: str, role: str, data: Mapping[str, Any]) -> str:
    """The page of the frontend the e-mail's call to action opens."""
    routes = _ROUTES.get(role, {})
    for key in EMAIL_KINDS.get(kind, ()):
        value = data.get(key)
        if value and key in routes:
            return base_url.rstrip("/") + routes[key].format(quote(str(value), safe=""))
    path = _KIND_PAGES.get((kind, role)) or _HOMES.get(role, NOTIFICATIONS_PAGE)
    return base_url.rstrip("/") + path


@cache
def _environments() -> tuple[Environment, Environment]:
    def make(*, autoescape: bool) -> Environment:
        return Environment(
            loader=PackageLoader("app.notifications", "templates"),
            undefined=StrictUndefined,
            # The text part is plain text (escaping would garble it); the HTML part escapes.
            autoescape=autoescape,  # noqa: S701
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    return make(autoescape=False), make(autoescape=True)


def _render(template_name: str, context: dict[str, Any]) -> RenderedEmail:
    text_env, html_env = _environments()
    text_template = text_env.get_template(f"{template_name}.j2")
    text = text_template.render(layout="layout.txt.j2", **context)
    html = html_env.get_template(f"{template_name}.j2").render(layout="layout.html.j2", **context)
    if "subject" in text_template.blocks:
        block = text_template.blocks["subject"](text_template.new_context(context))
        subject = " ".join("".join(block).split())
    else:
        subject = context["title"]
    return RenderedEmail(subject=subject, text=_tidy(text), html=html)


def _tidy(text: str) -> str:
    # Blocks left empty leave runs of blank lines behind; a reader sees one.
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip() or (lines and lines[-1]):
            lines.append(line.rstrip())
    return "\n".join(lines).strip() + "\n"


def render_notification(
    *,
    kind: str,
    title: str,
    body: str,
    data: Mapping[str, Any],
    role: str,
    base_url: str,
) -> RenderedEmail:
    """The e-mail copy of a notification for a reader with this role."""
    if kind not in EMAIL_KINDS:
        raise UnknownEmailKind(f"no e-mail template for notification kind {kind!r}")
    base = base_url.rstrip("/")
    return _render(
        kind,
        {
            "kind": kind,
            "title": title,
            "body": body,
            "data": dict(data),
            "role": role,
            "link": link_for(base, kind, role, data),
            "notifications_url": base + NOTIFICATIONS_PAGE,
        },
    )


INVITATION_TEMPLATE = "clinic_invitation"


def render_invitation(
    *, link: str, token: str, clinic_name: str, inviter: str, role: str, expires: str, base_url: str
) -> RenderedEmail:
    base = base_url.rstrip("/")
    return _render(
        INVITATION_TEMPLATE,
        {
            "kind": INVITATION_TEMPLATE,
            "title": f"Join {clinic_name} on mdmatch",
            "body": f"{inviter} invited you to the {clinic_name} team as {role}.",
            "data": {},
            "role": "",
            "link": link,
            "token": token,
            "clinic_name": clinic_name,
            "team_role": role,
            "inviter": inviter,
            "expires": expires,
            "notifications_url": base + NOTIFICATIONS_PAGE,
        },
    )


SIGNING_INVITATION_TEMPLATE = "document_signing_invitation"


def render_signing_invitation(
    *, link: str, token: str, title: str, clinic_name: str, expires: str, base_url: str
) -> RenderedEmail:
    """The one-time link a clinic's roster provider (who has no mdmatch account) signs with."""
    base = base_url.rstrip("/")
    return _render(
        SIGNING_INVITATION_TEMPLATE,
        {
            "kind": SIGNING_INVITATION_TEMPLATE,
            "title": f"{clinic_name} asks you to sign: {title}",
            "body": f"{clinic_name} asks you to sign the document {title} on mdmatch.",
            "data": {},
            "role": "",
            "link": link,
            "token": token,
            "clinic_name": clinic_name,
            "document_title": title,
            "expires": expires,
            "notifications_url": base + NOTIFICATIONS_PAGE,
        },
    )


def render_password_reset(*, link: str, token: str, minutes: int, base_url: str) -> RenderedEmail:
    base = base_url.rstrip("/")
    return _render(
        PASSWORD_RESET_TEMPLATE,
        {
            "kind": PASSWORD_RESET_TEMPLATE,
            "title": "Reset your mdmatch password",
            "body": "Someone asked to reset the password of your mdmatch account.",
            "data": {},
            "role": "",
            "link": link,
            "token": token,
            "minutes": minutes,
            "notifications_url": base + NOTIFICATIONS_PAGE,
        },
    )
