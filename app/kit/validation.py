"""Validators shared by request schemas."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day_only(value: object) -> object:
    """Dates only as YYYY-MM-DD (pydantic would also take a number as a Unix time)."""
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DAY.fullmatch(value)):
        return value
    raise ValueError("must be a date as YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_day_only)]


def reject_null(value: object) -> object:
    """For PATCH bodies: omit a field to leave it unchanged; null is not a value it can take."""
    if value is None:
        raise ValueError("must not be null; omit the field to leave it unchanged")
    return value


@dataclass(frozen=True)
class Stated:
    """A rule checked after pydantic's own constraints (`check` returns the value or raises
    ValueError) and stated in the JSON schema (`keywords`), so that generated clients and
    fuzzers know it."""

    check: Callable[[Any], Any]
    keywords: tuple[tuple[str, Any], ...]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(self.keywords)
        return json_schema


def refuses(ranges: str, message: str) -> Stated:
    """A string rule: none of the characters of `ranges` (a regex character-class body)."""

    def check(value: str) -> str:
        if re.search(f"[{ranges}]", value):
            raise ValueError(message)
        return value

    return Stated(check, (("pattern", f"^[^{ranges}]*$"),))


# A one-line field (a name, an address) takes no C0/C1 control character and no Unicode line or
# paragraph separator: it can never break a header, an e-mail subject or a log line.
ONE_LINE = refuses(
    "\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029",
    "must be a single line of text, without control characters",
)
# Free text (a reason, a note) keeps its line breaks and tabs, and takes no other control.
FREE_TEXT = refuses(
    "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f",
    "must be text without control characters (line breaks and tabs are fine)",
)
