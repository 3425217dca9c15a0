"""One account, one key: the per-account login budget cannot be multiplied by padding, case or
Unicode look-alikes, and no login input grows the server's memory without bound."""

from __future__ import annotations

import pytest

from app.auth.schemas import normalise_email
from tests.factories import PASSWORD, register, unique_email

VARIANTS = (
    "   {e}",
    "\t{e}",
    "\u00a0{e}",  # NO-BREAK SPACE
    "\u2003{e}",  # EM SPACE
    "{e}\u200b",  # ZERO WIDTH SPACE
    "\ufeff{e}\n",  # BOM, newline
    "{E}",
)


@pytest.mark.parametrize("template", VARIANTS)
def test_every_variant_of_an_address_has_one_key(template):
    email = "someone@example.com"
    assert normalise_email(template.format(e=email, E=email.upper())) == email


def test_fullwidth_letters_fold_to_their_ascii_key():
    fullwidth = "".join(chr(0xFF21 + ord(c) - ord("A")) for c in "SOMEONE")
    assert normalise_email(fullwidth + "@example.com") == "someone@example.com"


async def test_padded_logins_share_the_accounts_budget(client, app):
    email = (await register(client, "clinic_admin", unique_email()))["email"]
    app.state.settings.rate_limit_login_per_account = "4/15minutes"
    try:
        statuses = []
        for template in VARIANTS[:4]:
            r = await client.post(
                "/v1/auth/token",
                data={"username": template.format(e=email), "password": "Wrong-pass-1"},
            )
            statuses.append(r.status_code)
        # The budget is spent: even the right password, padded or not, waits.
        for username in (email, "\u2003" + email.upper()):
            r = await client.post(
                "/v1/auth/token", data={"username": username, "password": PASSWORD}
            )
            statuses.append(r.status_code)
    finally:
        app.state.settings.rate_limit_login_per_account = "20/15minutes"
    assert statuses == [401, 401, 401, 401, 429, 429]


async def test_a_padded_address_logs_in_to_the_same_account(client):
    email = (await register(client, "clinic_admin", unique_email()))["email"]
    r = await client.post(
        "/v1/auth/token", data={"username": f"\u00a0{email.upper()} ", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.json()["email"] == email


async def test_registering_a_padded_duplicate_is_409(client):
    email = (await register(client, "clinic_admin", unique_email()))["email"]
    again = await client.post(
        "/v1/auth/register",
        json={"email": f" {email.upper()}", "password": PASSWORD, "role": "physician"},
    )
    assert again.status_code in (409, 422), again.text
    if again.status_code == 422:  # refused as an invalid address: still no second account
        assert "email" in again.text


@pytest.mark.parametrize("field", ["username", "password"])
async def test_an_oversized_login_is_422_before_it_becomes_a_key(client, app, field):
    form = {"username": unique_email(), "password": "Wrong-pass-1"}
    form[field] = "a" * 100_000 + ("@example.com" if field == "username" else "")
    r = await client.post("/v1/auth/token", data=form)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", field]
    limiter = app.state.rate_limiter
    # Nothing keyed on the oversized value was stored.
    assert not any(form[field][:1000] in str(k) for k in getattr(limiter.storage, "storage", {}))
