"""Schema-only annotations for the OpenAPI document: they change what the document says about a
field, never how the field validates or what it serializes to.

Client generators (openapi-python-client, openapi-typescript...) turn every inline `enum` into a
type of its own, and every `anyOf: [X, null]` into "X or None": a list of codes repeated in six
schemas becomes six incompatible types, and a PATCH field the server never accepts null for reads
as nullable. These helpers name the shared enums once and keep `null` out of PATCH fields.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any, Literal, cast, get_args, get_origin

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler
from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs


def code_enum(name: str, codes: Iterable[str]) -> type[StrEnum]:
    """A StrEnum of reference-data codes, made from the data (the OpenAPI component `name`)."""
    # The functional API: mypy reads a call with non-literal members as making a member.
    return cast(
        "type[StrEnum]", StrEnum(name, {code: code for code in sorted(codes)}, module=__name__)
    )


def _unchanged(value: Any) -> Any:
    return value


class DocumentedAs:
    """`Annotated` metadata: document a field as the named enum `enum` (one `$ref`'d component,
    for requests and responses alike) while it keeps its own validation, error messages and
    Python type. A response value outside the enum fails to serialize, as an enum field would."""

    def __init__(self, enum: type[StrEnum]) -> None:
        self.enum = enum

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        if get_origin(source) is Literal and set(get_args(source)) != set(self.enum):
            raise TypeError(f"{source} does not list the values of {self.enum.__name__}")
        schema = handler(source)
        documented = handler.generate_schema(self.enum)
        return cs.no_info_before_validator_function(
            _unchanged,
            schema,
            json_schema_input_schema=documented,
            serialization=cs.plain_serializer_function_ser_schema(
                self.enum, return_schema=documented, when_used="json"
            ),
        )


class ResponseModel(BaseModel):
    """Base of response bodies. Every field is in every response, defaults included, so the
    document marks them all required (FastAPI documents responses in serialization mode, apart
    from requests, and splits a model used both ways into `-Input` and `-Output` schemas)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


def _drop_null(prop: dict[str, Any]) -> None:
    """`{"anyOf": [X, {"type": "null"}], "default": null, ...}` → X with the same annotations."""
    branches = prop.get("anyOf")
    if branches is None:
        return
    kept = [b for b in branches if b != {"type": "null"}]
    if len(kept) == len(branches):
        return
    del prop["anyOf"]
    if prop.get("default", ...) is None:
        del prop["default"]
    if len(kept) == 1:
        prop.update(kept[0])
    else:
        prop["anyOf"] = kept


def omit_or_value(*nullable: str, **members: Any) -> Callable[[dict[str, Any], type[Any]], None]:
    """`json_schema_extra` of a PATCH-style body: each field may be omitted, but `null` is not a
    value it takes (its validator answers 422), so the schema does not offer it; `nullable`
    names the fields for which null means "clear it". `members` are added to the schema."""

    def extra(schema: dict[str, Any], model: type[Any]) -> None:
        for name, prop in schema.get("properties", {}).items():
            if name not in nullable:
                _drop_null(prop)
        schema.update(members)

    return extra


_HEADERS = "#/components/headers/"
HEADER_COMPONENTS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id: the caller's own `X-Request-ID` when it sent a valid "
        "one (1-128 letters, digits, `-_.:`), else a new one. In the logs, and in problem "
        "bodies as `request_id`.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying, when the server knows (a database "
        "restart, a request with the same Idempotency-Key in progress).",
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimitRetryAfter": {
        "description": "Seconds until the rate limit lets this caller in again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "Idempotent-Replayed": {
        "description": "`true` on a repeat of a request with the same Idempotency-Key: this is "
        "the stored first response, and nothing was done again.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


def document_headers(schema: dict[str, Any], *, idempotency_header: str) -> dict[str, Any]:
    """Document the response headers every route shares: `X-Request-ID` on every response,
    `Retry-After` on 429s (always) and on 503s and 409s (sometimes), and `Idempotent-Replayed`
    on the successes of the operations that take `idempotency_header`."""
    schema.setdefault("components", {})["headers"] = copy.deepcopy(HEADER_COMPONENTS)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            idempotent = any(
                p.get("in") == "header" and p.get("name") == idempotency_header
                for p in operation.get("parameters", [])
            )
            for status, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                headers["X-Request-ID"] = {"$ref": _HEADERS + "X-Request-ID"}
                if status == "429":
                    headers["Retry-After"] = {"$ref": _HEADERS + "RateLimitRetryAfter"}
                elif status == "503" or (idempotent and status == "409"):
                    headers["Retry-After"] = {"$ref": _HEADERS + "Retry-After"}
                if idempotent and status.startswith("2"):
                    headers["Idempotent-Replayed"] = {"$ref": _HEADERS + "Idempotent-Replayed"}
    return schema
