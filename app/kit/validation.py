"""Validators shared by request schemas."""

from __future__ import annotations


def reject_null(value: object) -> object:
    """For PATCH bodies: omit a field to leave it unchanged; null is not a value it can take."""
    if value is None:
        raise ValueError("must not be null; omit the field to leave it unchanged")
    return value
