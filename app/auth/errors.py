from app.errors import AppError, Conflict, Unauthenticated, ValidationFailed


class EmailAlreadyRegistered(Conflict):
    slug, title = "email-taken", "E-mail already registered"


class InvalidCredentials(Unauthenticated):
    def __init__(self) -> None:
        # The same answer for an unknown e-mail and a wrong password.
        super().__init__("Incorrect e-mail or password.")


class RefreshTokenInvalid(Unauthenticated):
    def __init__(self) -> None:
        super().__init__("The refresh token is invalid, expired or already used; log in again.")


class ResetTokenInvalid(AppError):
    status, slug, title = 422, "reset-token-invalid", "Password reset link invalid"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, errors=[{"loc": ["body", "token"], "msg": detail}])


class WeakPassword(ValidationFailed):
    def __init__(self, field: str, problems: list[str]) -> None:
        super().__init__([{"loc": ["body", field], "msg": f"password {p}"} for p in problems])
