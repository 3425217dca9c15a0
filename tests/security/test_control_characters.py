"""Single-line text refuses line breaks and other control characters (they would end up in
e-mail subjects and headers, where a CR/LF makes the e-mail unsendable or injects a header);
free text keeps its line breaks."""

from __future__ import annotations

import pytest

from tests.clinics.helpers import clinic_body, create_clinic
from tests.factories import user_headers
from tests.physicians.helpers import profile_body

BREAKERS = [
    "Glow\r\nBcc: victim@example.com",
    "Glow\nAesthetics",
    "Glow\x00",
    "Glow\u2028Spa",
    "A\x1b[31m",
]


@pytest.mark.parametrize("name", BREAKERS)
async def test_a_clinic_name_with_a_control_character_is_422(client, name):
    headers = await user_headers(client, "clinic_admin")
    created = await client.post("/v1/clinics", json=clinic_body(legal_name=name), headers=headers)
    assert created.status_code == 422, created.text
    assert created.json()["errors"][0]["loc"][-1] == "legal_name"
    clinic = await create_clinic(client, headers)
    patched = await client.patch(
        f"/v1/clinics/{clinic['id']}", json={"legal_name": name}, headers=headers
    )
    assert patched.status_code == 422, patched.text
    unchanged = await client.get(f"/v1/clinics/{clinic['id']}", headers=headers)
    assert unchanged.json()["legal_name"] == clinic["legal_name"]


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("contact_name", "Dana\nReyes"),
        ("city", "Austin\rTX"),
    ],
)
async def test_other_one_line_clinic_fields_refuse_line_breaks(client, where, value):
    headers = await user_headers(client, "clinic_admin")
    body = clinic_body()
    if where == "contact_name":
        body["contact"]["name"] = value
    else:
        body["locations"][0]["city"] = value
    r = await client.post("/v1/clinics", json=body, headers=headers)
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("field", ["first_name", "last_name"])
async def test_a_physician_name_with_a_line_break_is_422(client, field):
    headers = await user_headers(client, "physician")
    r = await client.post(
        "/v1/physicians", json=profile_body(**{field: "Maya\r\nX-Injected: 1"}), headers=headers
    )
    assert r.status_code == 422, r.text


async def test_surrounding_spaces_are_trimmed_not_refused(client):
    headers = await user_headers(client, "clinic_admin")
    r = await client.post(
        "/v1/clinics", json=clinic_body(legal_name="  Glow Aesthetics PLLC \n"), headers=headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["legal_name"] == "Glow Aesthetics PLLC"


async def test_free_text_keeps_line_breaks_and_refuses_other_controls(client, session, settings):
    import uuid

    from tests.factories import ops_headers

    ops = await ops_headers(client, session, settings)
    path = f"/v1/intakes/{uuid.uuid4()}/rematch"
    kept = await client.post(path, json={"reason": "first line\nsecond\tline"}, headers=ops)
    assert kept.status_code == 404  # valid text: on to the (missing) intake
    refused = await client.post(path, json={"reason": "bell \x07 here"}, headers=ops)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["loc"][-1] == "reason"
