"""What the OpenAPI document tells a client generator, checked against the code it describes:
idempotent POSTs, PATCH bodies, problem bodies, shared enums, required response members and the
headers every response carries. (tests/test_api_fuzz.py checks the live answers against it.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any, Literal

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ValidationError

from app.billing.schemas import ScopeChange
from app.catalog.services import service_codes
from app.catalog.types import state_codes
from app.clinics.schemas import ClinicUpdate, IntakeUpdate
from app.kit.idempotency import is_idempotent
from app.kit.openapi import DocumentedAs
from app.main import create_app
from app.physicians.schemas import PhysicianUpdate
from tests.conftest import make_settings

REF = "#/components/schemas/"
PROBLEMS = {"Problem", "ValidationProblem", "RateLimitProblem", "ComplianceProblem"}
# Problem members that only some problems of a status carry.
SOMETIMES_ABSENT = {
    ("ValidationProblem", "errors"),
    ("ValidationIssue", "type"),
    ("ComplianceProblem", "flags"),
}


@pytest.fixture(scope="module")
def served() -> tuple[Any, dict[str, Any]]:
    app = create_app(make_settings("postgresql+asyncpg://doc@127.0.0.1/doc"))
    return app, app.openapi()


@pytest.fixture(scope="module")
def doc(served: tuple[Any, dict[str, Any]]) -> dict[str, Any]:
    return served[1]


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield f"{method.upper()} {path}", op


def refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith(REF):
            found.add(ref.removeprefix(REF))
        for value in node.values():
            found |= refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= refs(value)
    return found


def reachable(doc: dict[str, Any], roots: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += refs(doc["components"]["schemas"][name])
    return seen


def test_idempotent_posts_document_the_key_the_409_and_the_replay(served) -> None:
    app, doc = served
    marked = {
        context.original_route.operation_id
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        and is_idempotent(context.original_route.endpoint)
    }
    assert len(marked) >= 10
    taking_key = set()
    for _, op in operations(doc):
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        if "Idempotency-Key" not in headers:
            continue
        taking_key.add(op["operationId"])
        conflict = op["responses"]["409"]
        assert "idempotency-in-progress" in conflict["description"]
        assert refs(conflict["content"]["application/problem+json"]) <= PROBLEMS
        assert "Retry-After" in conflict["headers"]
        successes = [r for status, r in op["responses"].items() if status.startswith("2")]
        assert successes
        assert all("Idempotent-Replayed" in r["headers"] for r in successes)
    assert taking_key == marked


def _nullable(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "null" or any(b.get("type") == "null" for b in prop.get("anyOf", []))


@pytest.mark.parametrize("model", [ClinicUpdate, IntakeUpdate, PhysicianUpdate, ScopeChange])
def test_patch_bodies_offer_null_exactly_where_the_server_takes_it(doc, model) -> None:
    schema = doc["components"]["schemas"][model.__name__]
    nullable = {name for name, prop in schema["properties"].items() if _nullable(prop)}
    assert nullable == ({"promo_code"} if model is IntakeUpdate else set())
    for name in schema["properties"]:
        if name in nullable:
            assert getattr(model.model_validate({name: None}), name) is None
            continue
        with pytest.raises(ValidationError) as refused:
            model.model_validate({name: None})
        assert [e["loc"] for e in refused.value.errors()] == [(name,)], name


def test_error_responses_are_typed_problems(doc) -> None:
    schemas = doc["components"]["schemas"]
    for name in PROBLEMS:
        assert {"type", "title", "status", "detail", "instance", "request_id"} <= set(
            schemas[name]["required"]
        )
    assert schemas["ValidationProblem"]["properties"]["errors"]["items"] == {
        "$ref": REF + "ValidationIssue"
    }
    assert schemas["ComplianceProblem"]["properties"]["flags"]["items"] == {
        "$ref": REF + "ComplianceFlagRead"
    }
    for name, op in operations(doc):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            assert set(response["content"]) == {"application/problem+json"}, (name, status)
            (ref,) = refs(response["content"])
            expected = {"422": "ValidationProblem", "429": "RateLimitProblem"}.get(status)
            if op["operationId"] in {"submit_intake", "change_engagement_scope"}:
                expected = expected or {"409": "ComplianceProblem"}.get(status)
            assert ref == (expected or "Problem"), (name, status)


def _inline_enums(node: Any, path: str = "") -> Iterator[tuple[str, tuple[Any, ...]]]:
    if isinstance(node, dict):
        if "enum" in node and path.count("/") > 3:
            yield path, tuple(sorted(node["enum"]))
        for key, value in node.items():
            yield from _inline_enums(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _inline_enums(value, f"{path}/{i}")


def test_enums_are_named_once_and_shared_by_requests_and_responses(doc) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["StateCode"]["enum"] == sorted(state_codes())
    assert schemas["ServiceCode"]["enum"] == sorted(service_codes())
    named = {tuple(sorted(s["enum"])): n for n, s in schemas.items() if "enum" in s}
    inline = list(_inline_enums({"paths": doc["paths"], "schemas": schemas}))
    repeated = [(path, named[values]) for path, values in inline if values in named]
    assert not repeated, "inline copies of named enums"
    counts: dict[tuple[Any, ...], int] = {}
    for _, values in inline:
        counts[values] = counts.get(values, 0) + 1
    assert all(n == 1 for n in counts.values()), "the same inline enum in several places"

    def items_ref(model: str, field: str) -> str:
        prop = schemas[model]["properties"][field]
        return str(prop.get("items", prop).get("$ref", "")).removeprefix(REF)

    for model, field in [
        ("IntakeRead", "services"),
        ("OfferRead", "services"),
        ("PhysicianRead", "services"),
        ("IntakeCreate", "services"),
        ("IntakeUpdate", "services"),
    ]:
        assert items_ref(model, field) == "ServiceCode", (model, field)
    for model, field in [
        ("ClinicRead", "states"),
        ("OfferRead", "states"),
        ("MatchRead", "covers_states"),
        ("EngagementRead", "uncovered_states"),
        ("LocationIn", "state"),
        ("LocationRead", "state"),
    ]:
        assert items_ref(model, field) == "StateCode", (model, field)
    for model, field, enum in [
        ("OfferRead", "oversight_mode", "OversightMode"),
        ("OfferRead", "engagement_model", "EngagementModel"),
        ("QuoteRead", "billing_interval", "BillingInterval"),
        ("EngagementRead", "payment_status", "PaymentStatus"),
        ("EngagementRead", "backup_search", "BackupSearchState"),
        ("IntakeContinuity", "backup_search", "BackupSearchState"),
        ("IntakeContinuity", "engagement_status", "EngagementStatus"),
        ("InvoiceRead", "status", "InvoiceStatus"),
        ("SetupIntentRead", "status", "SetupIntentStatus"),
    ]:
        assert refs(schemas[model]["properties"][field]) == {enum}, (model, field)


def test_every_response_member_is_required(doc) -> None:
    roots: set[str] = set()
    for _, op in operations(doc):
        for response in op["responses"].values():
            roots |= refs(response.get("content", {}))
    schemas = doc["components"]["schemas"]
    optional = {
        (name, member)
        for name in reachable(doc, roots)
        for member in schemas[name].get("properties", {})
        if member not in schemas[name].get("required", [])
    }
    assert optional == SOMETIMES_ABSENT


def test_response_headers_are_documented(doc) -> None:
    headers = doc["components"]["headers"]
    assert headers["X-Request-ID"]["required"] is True
    assert headers["RateLimitRetryAfter"]["required"] is True
    assert "required" not in headers["Retry-After"]
    for name, op in operations(doc):
        for status, response in op["responses"].items():
            documented = response["headers"]
            assert documented["X-Request-ID"] == {"$ref": "#/components/headers/X-Request-ID"}
            retry = documented.get("Retry-After", {}).get("$ref", "")
            if status == "429":
                assert retry.endswith("/RateLimitRetryAfter"), name
            elif status == "503":
                assert retry.endswith("/Retry-After"), name


def test_the_served_document_is_plain_json(doc) -> None:
    assert json.loads(json.dumps(doc)) == doc


class _Colour(StrEnum):
    red = "red"
    blue = "blue"


def test_documented_as_keeps_validation_and_names_the_enum() -> None:
    class Paint(BaseModel):
        colour: Annotated[Literal["red", "blue"], DocumentedAs(_Colour)]

    with pytest.raises(ValidationError) as bad:
        Paint.model_validate({"colour": "green"})
    assert bad.value.errors()[0]["type"] == "literal_error"
    assert Paint(colour="red").model_dump_json() == '{"colour":"red"}'
    assert Paint.model_json_schema()["properties"]["colour"]["$ref"] == "#/$defs/_Colour"

    with pytest.raises(TypeError, match="does not list the values"):

        class Wrong(BaseModel):
            colour: Annotated[Literal["red", "green"], DocumentedAs(_Colour)]
