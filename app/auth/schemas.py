from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from app.auth.models import Role


def normalise_email(value: str) -> str:
    return value.strip().lower()


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=320)
    password: str = Field(max_length=256, description="At least 10 characters, not a common one")
    role: Literal[Role.clinic_admin, Role.physician] = Field(
        description="`clinic_admin` or `physician`; operations accounts are made by the CLI"
    )

    _norm = field_validator("email")(normalise_email)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: Role


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the access token expires")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=512)


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=320)

    _norm = field_validator("email")(normalise_email)


class PasswordResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=512)
    new_password: str = Field(max_length=256)


class MeRead(BaseModel):
    id: uuid.UUID
    email: str
    role: Role
    clinic_ids: list[uuid.UUID] = Field(default_factory=list)
    physician_id: uuid.UUID | None = None
