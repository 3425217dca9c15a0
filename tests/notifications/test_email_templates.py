"""Every notification kind has an e-mail template, and each renders the notification's text and
a link into the right frontend (pure: no database)."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

import jinja2
import pytest

from app.notifications.emails import (
    EMAIL_KINDS,
    UnknownEmailKind,
    _environments,
    link_for,
    render_invitation,
    render_notification,
    render_password_reset,
    render_signing_invitation,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "app" / "notifications" / "templates"
BASE = "https://app.mdmatch.example"
NOTIFIERS = {"notify", "notify_ops", "notify_parties"}
ROLES = ("clinic_admin", "physician", "ops_admin")


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def notify_calls() -> tuple[set[str], list[str]]:
    """String literals passed as `kind=` to notify/notify_ops/notify_parties anywhere in app/,
    and the places that pass something else (which must forward a `kind` parameter)."""
    literals: set[str] = set()
    forwarded_elsewhere: list[str] = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            params = {a.arg for a in (*func.args.args, *func.args.kwonlyargs)}
            for node in ast.walk(func):
                if not isinstance(node, ast.Call) or _called_name(node) not in NOTIFIERS:
                    continue
                for kw in node.keywords:
                    if kw.arg != "kind":
                        continue
                    if isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        literals.add(kw.value.value)
                    elif not (isinstance(kw.value, ast.Name) and kw.value.id in params):
                        forwarded_elsewhere.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return literals, forwarded_elsewhere


def sample_data() -> dict[str, object]:
    # Every id some call site passes, plus the extras (reasons, amounts, a summary's figures).
    return {
        "offer_id": str(uuid.uuid4()),
        "intake_id": str(uuid.uuid4()),
        "engagement_id": str(uuid.uuid4()),
        "invoice_id": str(uuid.uuid4()),
        "credential_id": str(uuid.uuid4()),
        "physician_id": str(uuid.uuid4()),
        "amount_cents": 12_500,
        "days_left": 30,
        "reasons": ["The NPI does not match the name."],
        "verification_status": "rejected",
    }


def test_every_kind_notified_in_app_has_an_email_template():
    literals, forwarded_elsewhere = notify_calls()
    # The walk itself works: these kinds exist in app/ today.
    assert {"offer.new", "intake.matched", "engagement.canceled", "ops.daily_summary"} <= literals
    assert len(literals) >= 20
    # A kind computed at the call site would escape this check.
    assert forwarded_elsewhere == []
    missing = sorted(literals - set(EMAIL_KINDS))
    assert missing == []
    for kind in literals:
        for role in ROLES:
            rendered = render_notification(
                kind=kind, title="T", body="B", data=sample_data(), role=role, base_url=BASE
            )
            assert rendered.subject
            assert BASE in rendered.text


def test_template_files_and_registered_kinds_match():
    files = {p.name.removesuffix(".j2") for p in TEMPLATES.glob("*.j2")}
    standalone = {
        "layout.txt",
        "layout.html",
        "password_reset",
        "clinic_invitation",
        "document_signing_invitation",
    }
    assert files - standalone == set(EMAIL_KINDS)


def test_the_invitation_email_carries_the_token_clinic_and_role():
    rendered = render_invitation(
        link=BASE + "/invitations/accept?token=abc123",
        token="abc123",
        clinic_name="Glow Aesthetics PLLC",
        inviter="dana@glowaesthetics.com",
        role="billing",
        expires="2026-12-10 08:00 UTC",
        base_url=BASE,
    )
    assert rendered.subject == "Join Glow Aesthetics PLLC on mdmatch"
    for part in ("abc123", "as billing", "dana@glowaesthetics.com", "2026-12-10 08:00 UTC"):
        assert part in rendered.text
    assert BASE + "/invitations/accept?token=abc123" in rendered.html


def test_the_signing_invitation_carries_the_token_document_and_expiry():
    rendered = render_signing_invitation(
        link=BASE + "/sign?token=tok456",
        token="tok456",
        title="Prescriptive Authority Agreement - Jane Doe, NP (Texas)",
        clinic_name="Glow Aesthetics PLLC",
        expires="2026-12-10 08:00 UTC",
        base_url=BASE,
    )
    assert rendered.subject.startswith("Glow Aesthetics PLLC asks you to sign")
    for part in ("tok456", "Jane Doe, NP (Texas)", "2026-12-10 08:00 UTC", "SHA-256"):
        assert part in rendered.text
    assert BASE + "/sign?token=tok456" in rendered.html


@pytest.mark.parametrize("kind", sorted(EMAIL_KINDS))
@pytest.mark.parametrize("role", ROLES)
def test_each_template_renders_title_body_and_link(kind, role):
    data = sample_data()
    title = f"Title of {kind} for {role}"
    body = f"Body of {kind}: line one.\nLine two & <more>."
    rendered = render_notification(
        kind=kind, title=title, body=body, data=data, role=role, base_url=BASE + "/"
    )
    link = link_for(BASE, kind, role, data)
    assert link.startswith(BASE + "/")
    assert "//" not in link.removeprefix("https://")
    assert title in rendered.subject
    assert "\n" not in rendered.subject
    assert rendered.text.startswith("Hello,\n")
    assert body in rendered.text
    assert link in rendered.text
    assert f"{BASE}/account/notifications" in rendered.text
    assert "You receive this e-mail because" in rendered.text
    # The HTML alternative: same text, escaped, with the link as the call to action.
    assert "Line two &amp; &lt;more&gt;." in rendered.html
    assert "<more>" not in rendered.html
    assert f'<a href="{link}"' in rendered.html
    assert "{{" not in rendered.text + rendered.html
    assert "{%" not in rendered.text + rendered.html


@pytest.mark.parametrize(
    ("kind", "role", "data", "path"),
    [
        # The data each call site passes today (see the notify calls in app/).
        ("offer.new", "physician", {"offer_id": "O1", "intake_id": "I1"}, "/physician/offers/O1"),
        ("offer.withdrawn", "physician", {"offer_id": "O1"}, "/physician/offers/O1"),
        ("intake.matched", "clinic_admin", {"intake_id": "I1"}, "/clinic/intakes/I1"),
        (
            "intake.unmatched",
            "clinic_admin",
            {"intake_id": "I1", "reason": "x"},
            "/clinic/intakes/I1",
        ),
        ("intake.unmatched", "ops_admin", {"intake_id": "I1", "outcome": {}}, "/ops/intakes/I1"),
        ("engagement.confirmed", "physician", {"engagement_id": "E1"}, "/physician/engagements/E1"),
        ("engagement.canceled", "clinic_admin", {"engagement_id": "E1"}, "/clinic/engagements/E1"),
        ("payment.failed", "ops_admin", {"engagement_id": "E1"}, "/ops/engagements/E1"),
        (
            "engagement.backup_takeover",
            "physician",
            {"engagement_id": "E1"},
            "/physician/engagements/E1",
        ),
        (
            "invoice.refunded",
            "clinic_admin",
            {"invoice_id": "V1", "amount_cents": 100},
            "/clinic/invoices/V1",
        ),
        (
            "credential.expiring",
            "physician",
            {"credential_id": "C1", "days_left": 9},
            "/physician/credentials/C1",
        ),
        (
            "credential.expired",
            "ops_admin",
            {"physician_id": "P1", "credential_id": "C1"},
            "/ops/physicians/P1",
        ),
        (
            "verification.result",
            "physician",
            {"verification_status": "verified", "reasons": []},
            "/physician/profile",
        ),
        ("physician.suspended", "physician", {}, "/physician/profile"),
        (
            "ops.daily_summary",
            "ops_admin",
            {"day": "2026-01-01", "placements": 3},
            "/ops/reports/daily",
        ),
        # An id the reader's frontend has no page for: their home, never a broken link.
        ("engagement.confirmed", "physician", {}, "/physician"),
        ("intake.matched", "physician", {"intake_id": "I1"}, "/physician"),
    ],
)
def test_the_link_follows_the_ids_each_call_site_passes(kind, role, data, path):
    assert link_for(BASE, kind, role, data) == BASE + path
    rendered = render_notification(
        kind=kind, title="t", body="b", data=data, role=role, base_url=BASE
    )
    assert BASE + path in rendered.text


def test_ids_are_escaped_in_links():
    link = link_for(BASE, "offer.new", "physician", {"offer_id": "../../admin?x=1"})
    assert link == BASE + "/physician/offers/..%2F..%2Fadmin%3Fx%3D1"


def test_role_specific_copy():
    data = {"engagement_id": "E1"}
    clinic = render_notification(
        kind="payment.failed", title="t", body="b", data=data, role="clinic_admin", base_url=BASE
    )
    doctor = render_notification(
        kind="payment.failed", title="t", body="b", data=data, role="physician", base_url=BASE
    )
    assert "Update your payment card:" in clinic.text
    assert "Update your payment card" not in doctor.text
    assert "you manage a clinic's account on mdmatch" in clinic.text
    assert "you have a physician account on mdmatch" in doctor.text


def test_a_kind_without_a_template_is_refused():
    with pytest.raises(UnknownEmailKind):
        render_notification(
            kind="offer.sparkles", title="t", body="b", data={}, role="physician", base_url=BASE
        )


def test_a_missing_template_variable_fails_loudly():
    text_env, html_env = _environments()
    for env in (text_env, html_env):
        with pytest.raises(jinja2.UndefinedError):
            env.from_string("Hello {{ first_name }}").render()


def test_password_reset_email():
    link = f"{BASE}/reset-password?token=tok_123"
    rendered = render_password_reset(link=link, token="tok_123", minutes=60, base_url=BASE)
    assert rendered.subject == "Reset your mdmatch password"
    assert link in rendered.text
    assert "within 60 minutes" in rendered.text
    assert "tok_123" in rendered.text
    assert "ignore this e-mail" in rendered.text
    assert f'<a href="{link}"' in rendered.html
    # A reset e-mail has no notification settings to point to.
    assert "/account/notifications" not in rendered.text
