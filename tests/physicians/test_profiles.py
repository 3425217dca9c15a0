from __future__ import annotations

import pytest

from tests.factories import ops_headers, user_headers
from tests.physicians.helpers import create_physician, in_days, new_npi, profile_body

PROBLEMS = "https://mdmatch.dev/problems/"


async def test_create_profile_starts_pending(client):
    headers = await user_headers(client, "physician")
    body = profile_body()
    response = await client.post("/v1/physicians", json=body, headers=headers)
    assert response.status_code == 201
    created = response.json()
    assert created["verification_status"] == "pending"
    assert created["npi"] == body["npi"]
    assert created["states_licensed"] == []
    me = (await client.get("/v1/me", headers=headers)).json()
    assert me["physician_id"] == created["id"]


async def test_bad_npi_check_digit_is_422_naming_the_field(client):
    headers = await user_headers(client, "physician")
    response = await client.post(
        "/v1/physicians", json=profile_body(npi="1234567890"), headers=headers
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "npi"]
    assert "check digit" in error["msg"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"home_zip": "00000"}, "home_zip"),
        ({"home_zip": "7870"}, "home_zip"),
        ({"services": ["neurotoxins", "unicorn_facials"]}, "services"),
        ({"services": ["neurotoxins", "neurotoxins"]}, "services"),
        ({"services": []}, "services"),
        ({"specialties": ["astrology"]}, "specialties"),
        ({"degree": "NP"}, "degree"),
        ({"travel_radius_miles": 501}, "travel_radius_miles"),
        ({"travel_radius_miles": -1}, "travel_radius_miles"),
        ({"max_clinics": 0}, "max_clinics"),
        ({"max_supervisees": 0}, "max_supervisees"),
        ({"engagement_models": ["weekends"]}, "engagement_models"),
        ({"min_monthly_rate_cents": 12.5}, "min_monthly_rate_cents"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_invalid_profiles_are_422_naming_the_field(client, overrides, field):
    headers = await user_headers(client, "physician")
    response = await client.post("/v1/physicians", json=profile_body(**overrides), headers=headers)
    assert response.status_code == 422, response.text
    assert any(field in e["loc"] for e in response.json()["errors"]), response.json()


async def test_aesthetic_years_cannot_exceed_career(client):
    headers = await user_headers(client, "physician")
    body = profile_body(years_experience=3, aesthetic_years=5)
    response = await client.post("/v1/physicians", json=body, headers=headers)
    assert response.status_code == 422
    assert "aesthetic_years" in response.json()["detail"]


async def test_second_profile_is_409(client):
    headers, _ = await create_physician(client)
    again = await client.post("/v1/physicians", json=profile_body(), headers=headers)
    assert again.status_code == 409
    assert again.json()["type"] == PROBLEMS + "physician-profile-exists"


async def test_claiming_an_npi_never_says_whether_another_profile_holds_it(client):
    _, first = await create_physician(client)
    taken, free = first["npi"], new_npi()
    answers = []
    for npi in (taken, free):
        headers = await user_headers(client, "physician")
        made = await client.post("/v1/physicians", json=profile_body(npi=npi), headers=headers)
        edited = await client.patch("/v1/physicians/me", json={"npi": npi}, headers=headers)
        answers.append((made.status_code, made.json()["verification_status"], edited.status_code))
    assert answers[0] == answers[1] == (201, "pending", 200)


async def test_only_physicians_create_profiles(client):
    clinic = await user_headers(client, "clinic_admin")
    assert (
        await client.post("/v1/physicians", json=profile_body(), headers=clinic)
    ).status_code == 403
    assert (await client.post("/v1/physicians", json=profile_body())).status_code == 401
    assert (await client.get("/v1/physicians/me", headers=clinic)).status_code == 403


async def test_each_physician_sees_only_their_own_profile(client):
    alice_headers, alice = await create_physician(client)
    bob_headers, bob = await create_physician(client, last_name="Brennan")
    assert (await client.get("/v1/physicians/me", headers=alice_headers)).json()["id"] == alice[
        "id"
    ]
    assert (await client.get("/v1/physicians/me", headers=bob_headers)).json()["id"] == bob["id"]
    # Operations-only views of another physician are closed to physicians.
    assert (
        await client.get(f"/v1/physicians/{alice['id']}", headers=bob_headers)
    ).status_code == 403
    assert (await client.get("/v1/physicians", headers=bob_headers)).status_code == 403


async def test_profile_before_creation_is_404(client):
    headers = await user_headers(client, "physician")
    response = await client.get("/v1/physicians/me", headers=headers)
    assert response.status_code == 404
    assert "POST /v1/physicians" in response.json()["detail"]


async def test_patch_updates_fields_and_checks_them(client):
    headers, _ = await create_physician(client)
    ok = await client.patch(
        "/v1/physicians/me",
        json={"accepting_new": False, "home_zip": "10001", "services": ["neurotoxins"]},
        headers=headers,
    )
    assert ok.status_code == 200
    assert ok.json()["accepting_new"] is False
    assert ok.json()["home_zip"] == "10001"
    for bad in ({"home_zip": None}, {"aesthetic_years": 60}, {"npi": "1234567890"}):
        response = await client.patch("/v1/physicians/me", json=bad, headers=headers)
        assert response.status_code == 422, bad


async def test_credentials_start_pending_and_are_validated(client):
    headers, profile = await create_physician(client, licenses=("TX", "CA"))
    assert {lic["status"] for lic in profile["licenses"]} == {"pending"}
    assert [p["status"] for p in profile["malpractice_policies"]] == ["pending"]
    cases = [
        (
            "/v1/physicians/me/licenses",
            {"state": "XX", "number": "A1", "expires_on": in_days(10)},
            "state",
        ),
        (
            "/v1/physicians/me/licenses",
            {"state": "TX", "number": "A123", "expires_on": in_days(0)},
            "expires_on",
        ),
        (
            "/v1/physicians/me/licenses",
            {"state": "TX", "number": "", "expires_on": in_days(9)},
            "number",
        ),
        (
            "/v1/physicians/me/dea",
            {"state": "TX", "number": "123", "expires_on": in_days(9)},
            "number",
        ),
        (
            "/v1/physicians/me/malpractice",
            {
                "carrier": "MedPro",
                "policy_number": "P-1",
                "per_claim_cents": 300,
                "aggregate_cents": 100,
                "expires_on": in_days(9),
            },
            "aggregate_cents",
        ),
    ]
    for path, payload, field in cases:
        response = await client.post(path, json=payload, headers=headers)
        assert response.status_code == 422, (path, payload)
        body = response.json()
        assert field in body["detail"] or any(field in e["loc"] for e in body["errors"]), body
    dea = await client.post(
        "/v1/physicians/me/dea",
        json={"state": "tx", "number": "bm1234567", "expires_on": in_days(90)},
        headers=headers,
    )
    assert dea.status_code == 201
    assert dea.json()["number"] == "BM1234567"
    assert dea.json()["state"] == "TX"


async def test_duplicate_license_is_409(client):
    headers, _ = await create_physician(client, licenses=())
    payload = {"state": "TX", "number": "Q7788", "expires_on": in_days(100)}
    assert (
        await client.post("/v1/physicians/me/licenses", json=payload, headers=headers)
    ).status_code == 201
    again = await client.post("/v1/physicians/me/licenses", json=payload, headers=headers)
    assert again.status_code == 409
    assert again.json()["type"] == PROBLEMS + "duplicate-credential"


async def test_ops_list_filters_and_pages(client, session, settings):
    ops = await ops_headers(client, session, settings)
    _, tx_doc = await create_physician(client, licenses=("TX",))
    _, ca_doc = await create_physician(client, licenses=("CA",))
    _, both = await create_physician(client, licenses=("TX", "CA"))
    tx = (await client.get("/v1/physicians", params={"state": "tx"}, headers=ops)).json()
    assert {p["id"] for p in tx["items"]} == {tx_doc["id"], both["id"]}
    assert all("npi" in p for p in tx["items"])
    pending = (
        await client.get(
            "/v1/physicians", params={"verification_status": "pending", "limit": 2}, headers=ops
        )
    ).json()
    assert len(pending["items"]) == 2
    rest = (
        await client.get(
            "/v1/physicians",
            params={"verification_status": "pending", "limit": 2, "cursor": pending["next_cursor"]},
            headers=ops,
        )
    ).json()
    assert {p["id"] for p in pending["items"] + rest["items"]} >= {
        tx_doc["id"],
        ca_doc["id"],
        both["id"],
    }
    bad = await client.get("/v1/physicians", params={"verification_status": "great"}, headers=ops)
    assert bad.status_code == 422


async def test_ops_reads_one_physician(client, session, settings):
    ops = await ops_headers(client, session, settings)
    _, doc = await create_physician(client)
    assert (await client.get(f"/v1/physicians/{doc['id']}", headers=ops)).json()["npi"] == doc[
        "npi"
    ]
    missing = await client.get(f"/v1/physicians/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers=ops)
    assert missing.status_code == 404


async def test_new_npi_helper_makes_valid_numbers():
    from app.physicians.npi import is_valid_npi

    assert all(is_valid_npi(new_npi()) for _ in range(20))


async def test_large_malpractice_limits_are_stored_exactly(client):
    """$10M per claim / $30M aggregate: more cents than a 32-bit column holds (a 500 found by
    schemathesis before the columns became bigint)."""
    headers, _ = await create_physician(client)
    response = await client.post(
        "/v1/physicians/me/malpractice",
        json={
            "carrier": "MedPro",
            "policy_number": "P-LARGE",
            "per_claim_cents": 1_000_000_000,
            "aggregate_cents": 3_000_000_000,
            "expires_on": in_days(200),
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    policies = (await client.get("/v1/physicians/me", headers=headers)).json()[
        "malpractice_policies"
    ]
    assert {"per_claim_cents": 1_000_000_000, "aggregate_cents": 3_000_000_000}.items() <= next(
        p for p in policies if p["policy_number"] == "P-LARGE"
    ).items()
