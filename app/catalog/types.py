"""Pydantic field types checked against the reference data (422 naming the field otherwise)."""

from __future__ import annotations

from functools import cache
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from app.catalog.rules import seed_rules
from app.catalog.services import service_codes
from app.kit.openapi import DocumentedAs, code_enum
from app.kit.validation import Stated


@cache
def state_codes() -> frozenset[str]:
    return frozenset(r["code"] for r in seed_rules()[1])


def _upper(v: object) -> object:
    return v.strip().upper() if isinstance(v, str) else v


def _check_state(v: str) -> str:
    if v not in state_codes():
        raise ValueError("not a USPS code of the 50 states or DC")
    return v


def _check_service(v: str) -> str:
    if v not in service_codes():
        raise ValueError("unknown service code; see GET /v1/services")
    return v


def unique_items(v: list[str]) -> list[str]:
    if len(set(v)) != len(v):
        raise ValueError("items must not repeat")
    return v


# No item twice (422), stated as `uniqueItems` in the JSON schema.
UNIQUE_ITEMS = Stated(unique_items, (("uniqueItems", True),))


# The documented schema lists the codes, so clients (and schemathesis) know them up front: one
# named component each (`StateCode`, `ServiceCode`), for request and response fields alike. The
# fields stay `str` with our own checks and messages. On a response field the check runs on our
# own data, where it always passes.
StateCodes = code_enum("StateCode", state_codes())
ServiceCodes = code_enum("ServiceCode", service_codes())

UsState = Annotated[
    str, BeforeValidator(_upper), AfterValidator(_check_state), DocumentedAs(StateCodes)
]
ServiceCode = Annotated[str, AfterValidator(_check_service), DocumentedAs(ServiceCodes)]
