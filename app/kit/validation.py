"""Validators shared by request schemas."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import BeforeValidator

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
