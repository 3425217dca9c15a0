"""`GET /openapi.json` serves every path of the REST contract (../shared/design/API.md).

The contract's operations are transcribed below so the check runs from any checkout; when the
design folder sits next to the repository, the transcription is also checked against it."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

CONTRACT = {
    ("POST", "/v1/auth/register"),
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/password-reset"),
    ("POST", "/v1/auth/password-reset/confirm"),
    ("GET", "/v1/me"),
    ("GET", "/v1/me/notifications"),
    ("POST", "/v1/me/notifications/{id}/read"),
    ("GET", "/v1/services"),
    ("GET", "/v1/states"),
    ("GET", "/v1/states/{id}"),
    ("PUT", "/v1/states/{id}"),
    ("GET", "/v1/audit"),
    ("POST", "/v1/physicians"),
    ("GET", "/v1/physicians/me"),
    ("PATCH", "/v1/physicians/me"),
    ("POST", "/v1/physicians/me/licenses"),
    ("POST", "/v1/physicians/me/dea"),
    ("POST", "/v1/physicians/me/malpractice"),
    ("GET", "/v1/physicians"),
    ("POST", "/v1/physicians/{id}/verify"),
    ("POST", "/v1/physicians/{id}/suspend"),
    ("POST", "/v1/physicians/{id}/reinstate"),
    ("GET", "/v1/physicians/me/offers"),
    ("GET", "/v1/physicians/me/engagements"),
    ("GET", "/v1/offers/{id}"),
    ("POST", "/v1/offers/{id}/accept"),
    ("POST", "/v1/offers/{id}/decline"),
    ("POST", "/v1/engagements/{id}/resign"),
    ("POST", "/v1/clinics"),
    ("GET", "/v1/clinics"),
    ("GET", "/v1/clinics/{id}"),
    ("PATCH", "/v1/clinics/{id}"),
    ("POST", "/v1/clinics/{id}/intakes"),
    ("GET", "/v1/clinics/{id}/intakes"),
    ("GET", "/v1/clinics/{id}/engagements"),
    ("GET", "/v1/intakes/{id}"),
    ("PATCH", "/v1/intakes/{id}"),
    ("POST", "/v1/intakes/{id}/submit"),
    ("POST", "/v1/intakes/{id}/withdraw"),
    ("POST", "/v1/quotes"),
    ("GET", "/v1/intakes/{id}/quote"),
    ("GET", "/v1/intakes/{id}/matches"),
    ("POST", "/v1/intakes/{id}/confirm"),
    ("GET", "/v1/engagements/{id}"),
    ("POST", "/v1/engagements/{id}/payment-method"),
    ("POST", "/v1/engagements/{id}/subscribe"),
    ("POST", "/v1/engagements/{id}/cancel"),
    ("POST", "/v1/engagements/{id}/change-scope"),
    ("GET", "/v1/clinics/{id}/invoices"),
    ("POST", "/v1/billing/stripe/webhook"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/intakes"),
}

DESIGN = ROOT.parent / "shared" / "design" / "API.md"
OPERATION = re.compile(
    r"\b(GET|POST|PUT|PATCH|DELETE)((?:, (?:GET|POST|PUT|PATCH|DELETE))*) (/[^\s`|?,]+)"
)


def _normalise(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{id}", path)


def contract_from_design(text: str) -> set[tuple[str, str]]:
    """Operations named in API.md: table rows like `GET, PATCH /v1/clinics/{id}` and
    `POST /v1/physicians/{id}/suspend, /reinstate`, and operations quoted in the prose."""
    found: set[tuple[str, str]] = set()
    for line in text.splitlines():
        for match in OPERATION.finditer(line):
            methods = [match.group(1), *re.findall(r"[A-Z]+", match.group(2))]
            path = match.group(3).rstrip(",.")
            paths = [path]
            rest = line[match.end() :]
            # `, /reinstate` or `, /engagements`: the same prefix with another last segment.
            for extra in re.findall(r"^, (/[a-z-]+)", rest):
                paths.append(path.rsplit("/", 1)[0] + extra)
            for m in methods:
                for p in paths:
                    found.add((m, _normalise(p)))
    return found


def test_the_transcription_matches_the_design() -> None:
    if not DESIGN.exists():
        pytest.skip("the design folder is not next to this checkout")
    assert contract_from_design(DESIGN.read_text()) == CONTRACT


def test_openapi_serves_every_operation_of_the_contract(app) -> None:
    served = {
        (method.upper(), _normalise(path))
        for path, item in app.openapi()["paths"].items()
        for method in item
    }
    missing = CONTRACT - served
    assert not missing, f"API.md operations not served: {sorted(missing)}"


# The contract's lists (everything but the reference lists, which come in one page).
LISTS = {
    "/v1/me/notifications",
    "/v1/audit",
    "/v1/physicians",
    "/v1/physicians/me/offers",
    "/v1/physicians/me/engagements",
    "/v1/clinics",
    "/v1/clinics/{id}/intakes",
    "/v1/clinics/{id}/engagements",
    "/v1/clinics/{id}/invoices",
    "/v1/intakes",
}


def test_every_list_of_the_contract_is_paginated_and_secured(app) -> None:
    """API.md: lists are `{"items": [...], "next_cursor": ...}` with `?limit=` (max 200) and
    `?cursor=`; every one needs a token."""
    assert {path for method, path in CONTRACT if method == "GET"} >= LISTS
    doc = app.openapi()
    schemas = doc["components"]["schemas"]
    by_path = {_normalise(path): item for path, item in doc["paths"].items()}
    for path in sorted(LISTS):
        op = by_path[path]["get"]
        params = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
        assert {"limit", "cursor"} <= set(params), path
        limit = params["limit"]["schema"]
        assert (limit.get("default"), limit.get("maximum")) == (50, 200), (path, limit)
        ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = schemas[ref.rsplit("/", 1)[-1]]
        assert {"items", "next_cursor"} <= set(page["properties"]), path
        assert page["properties"]["items"]["type"] == "array", path
        assert op.get("security"), f"{path} must need a token"
