from __future__ import annotations

import unicodedata
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from app.auth.models import Role
from app.kit.openapi import ResponseModel

# Spaces of every kind, line and paragraph separators, control and format characters (NBSP,
# EM SPACE, zero-width space, BOM...): invisible at either end of a typed or pasted address.
_INVISIBLE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})
MAX_EMAIL_LENGTH = 320
MAX_PASSWORD_LENGTH = 256


def normalise_email(value: str) -> str:
    """The one form of an e-mail used for registration, the account lookup and every
    per-account limit: NFKC, stripped of invisible characters at both ends, case-folded. One
    account has one key, so a padded or differently-cased login shares its rate-limit budget."""
    text = unicodedata.normalize("NFKC", value)
    start, end = 0, len(text)
    while start < end and unicodedata.category(text[start]) in _INVISIBLE:
        start += 1
    while end > start and unicodedata.category(text[end - 1]) in _INVISIBLE:
        end -= 1
    return text[start:end].casefold()


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=MAX_EMAIL_LENGTH)
    password: str = Field(
        max_length=MAX_PASSWORD_LENGTH, description="At least 10 characters, not a common one"
    )
    role: Literal[Role.clinic_admin, Role.physician] = Field(
        description="`clinic_admin` or `physician`; operations accounts are made by the CLI"
    )

    _norm = field_validator("email")(normalise_email)


class UserRead(ResponseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: Role


class TokenPair(ResponseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the access token expires")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=512)


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=MAX_EMAIL_LENGTH)

    _norm = field_validator("email")(normalise_email)


class PasswordResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=512)
    new_password: str = Field(max_length=MAX_PASSWORD_LENGTH)


class MeRead(ResponseModel):
    id: uuid.UUID
    email: str
    role: Role
    clinic_ids: list[uuid.UUID] = Field(default_factory=list)
    physician_id: uuid.UUID | None = None
