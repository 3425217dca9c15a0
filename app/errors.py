"""One error family, rendered as RFC 9457 problem+json.

Every error a client can see is an `AppError` (or is translated into one's shape here): a stable
`type` URI built from a slug that frontends switch on, a human `title`, a `detail` that tells the
caller what to change, and extension members where useful (`errors`, `flags`, `reasons`).
Unexpected exceptions become a generic 500 carrying only the request id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_BASE = "https://mdmatch.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

log = structlog.get_logger(__name__)


_RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "request_id"})


class AppError(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        clash = _RESERVED_MEMBERS & set(extensions)
        if clash:
            raise ValueError(f"problem extension members clash with RFC 9457 members: {clash}")
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extensions = extensions
        super().__init__(self.detail)


class ValidationFailed(AppError):
    status, slug, title = 422, "validation", "The request is not valid"

    def __init__(self, errors: Sequence[dict[str, Any]], detail: str | None = None) -> None:
        super().__init__(detail or _summarise(errors), errors=list(errors))


class Unauthenticated(AppError):
    status, slug, title = 401, "unauthenticated", "Authentication required"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict with the current state"


class RateLimited(AppError):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, retry_after_seconds: int) -> None:
        retry_after = max(1, retry_after_seconds)
        super().__init__(
            f"Rate limit exceeded; retry in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
            retry_after=retry_after,
        )


class UpstreamUnavailable(AppError):
    status, slug, title = 503, "upstream-unavailable", "An upstream service is unavailable"


class ServiceUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "The service is not ready"


# The models below document the problem bodies in the OpenAPI document; `problem_response`
# builds the bodies themselves.


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error response. Switch on `type`, whose last
    segment is a stable slug; some types add extension members of their own."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description=f"{PROBLEM_BASE}<slug>; the slug is stable")
    title: str
    status: int
    detail: str = Field(description="What went wrong and what to change, for people")
    instance: str = Field(description="The path of the request")
    request_id: str | None = Field(
        description="The request's id (also the X-Request-ID header): quote it to support"
    )


def optional_member(schema: dict[str, Any]) -> None:
    """`json_schema_extra` of a documented member that may be absent (it has no default)."""
    schema.pop("default", None)


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(
        description='Where: the request part, then the path in it (["body", "services", 0])'
    )
    msg: str
    type: str = Field(
        default="",
        description="A machine-readable kind of error",
        json_schema_extra=optional_member,
    )


class ValidationProblem(Problem):
    """422: the request is not valid (`validation`), or an Idempotency-Key was reused with
    another request (`idempotency-key-reused`)."""

    errors: list[ValidationIssue] = Field(
        default_factory=list,
        description="One entry per invalid member (absent when the request is refused whole)",
        json_schema_extra=optional_member,
    )


class RateLimitProblem(Problem):
    """429 `rate-limited`."""

    retry_after: int = Field(ge=1, description="Seconds to wait (also the Retry-After header)")


# Problem models that routes name in `problem_responses(..., models=...)`: document_problems
# adds them to the document's components.
_ROUTE_PROBLEMS: dict[str, type[Problem]] = {}


def problem_response(
    request: Request,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
    }
    body.update(extensions)
    headers = dict(headers or {})
    if body["request_id"]:
        # The 500 handler runs outside the request-id middleware, so set the header here too.
        headers.setdefault("X-Request-ID", body["request_id"])
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _loc(loc: Sequence[Any]) -> list[str | int]:
    return [p if isinstance(p, int) else str(p) for p in loc]


def _summarise(errors: Sequence[dict[str, Any]]) -> str:
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid"))
        # pydantic prefixes messages raised by our own validators with "Value error, ".
        msg = msg.removeprefix("Value error, ")
        out.append({"loc": _loc(err.get("loc", ())), "msg": msg, "type": err.get("type")})
    return out


_STATUS_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict with the current state"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation", "The request is not valid"),
    429: ("rate-limited", "Too many requests"),
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(
            request,
            status=exc.status,
            slug=exc.slug,
            title=exc.title,
            detail=exc.detail,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = validation_errors(exc)
        return problem_response(
            request,
            status=422,
            slug="validation",
            title="The request is not valid",
            detail=_summarise(errors) if errors else "The request is not valid",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _STATUS_SLUGS.get(exc.status_code, ("error", "Error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem_response(
            request,
            status=exc.status_code,
            slug=slug,
            title=title,
            detail=detail,
            headers=dict(exc.headers or {}),
        )

    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        if _sqlstate(exc) in _UNSTORABLE_TEXT_SQLSTATES:
            # A NUL character (or bytes that are not UTF-8) in some text of the request:
            # PostgreSQL cannot store or compare it. The transaction is rolled back.
            return problem_response(
                request,
                status=422,
                slug="validation",
                title="The request is not valid",
                detail="The request contains a character that text cannot hold (NUL); remove it.",
            )
        if not database_unavailable(exc):
            raise exc  # our bug, not an outage: the 500 handler below answers and logs it
        return _database_unavailable_response(request, exc)

    # A database outage arrives as one of these. Answered here, in Starlette's exception
    # middleware, the 503 is a handled response; the catch-all `Exception` handler below runs
    # in the server-error middleware, which re-raises after answering, so uvicorn would also
    # log every 503 of an outage as "Exception in ASGI application", a traceback at error level.
    for exc_class in (SQLAlchemyError, OSError):
        app.add_exception_handler(exc_class, _database_error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if database_unavailable(exc):
            # Raised outside the routes (a middleware): still a 503, not a 500.
            return _database_unavailable_response(request, exc)
        # Starlette calls this outside the request middleware, whose log context is gone by now.
        log.exception(
            "unhandled_exception",
            path=request.url.path,
            request_id=getattr(request.state, "request_id", None),
        )
        return problem_response(
            request,
            status=500,
            slug="internal",
            title="Internal server error",
            detail="Something went wrong on our side; quote the request id if you contact us.",
        )


def _database_unavailable_response(request: Request, exc: BaseException) -> JSONResponse:
    # Fail fast and say so: the client retries; the pool reconnects by itself (pre-ping) once
    # PostgreSQL is back.
    log.warning(
        "database_unavailable",
        path=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        error=type(exc).__name__,
    )
    return problem_response(
        request,
        status=503,
        slug="service-unavailable",
        title="The service is not ready",
        detail="The database is unavailable for a moment; nothing was changed. Retry shortly.",
        headers={"Retry-After": "2"},
    )


# SQLSTATEs that mean "the database is not there right now": connection exceptions (08xxx),
# admin/crash shutdown, cannot connect now, too many connections, a statement timeout.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "57014"})


# character_not_in_repertoire (a NUL in text), untranslatable_character.
_UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says the database cannot be reached or is restarting,
    rather than that our query is wrong."""
    from sqlalchemy import exc as sa

    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, sa.TimeoutError | ConnectionError | TimeoutError):
            return True
        if isinstance(seen, sa.DBAPIError):
            if seen.connection_invalidated:
                return True
            orig = seen.orig
            code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
            if isinstance(code, str) and (code.startswith("08") or code in _UNAVAILABLE_SQLSTATES):
                return True
            seen = orig if orig is not None and orig is not seen else seen.__cause__
            continue
        if isinstance(seen, OSError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_REF = "#/components/schemas/{model}"
_STATUS_PROBLEMS: dict[int, type[Problem]] = {422: ValidationProblem, 429: RateLimitProblem}


def _problem_content(model: type[Problem]) -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(model=model.__name__)}}}


def problem_responses(
    *statuses: int, models: Mapping[int, type[Problem]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json errors of a route; `models` names a
    Problem subclass for a status whose problems carry extension members."""
    models = {**_STATUS_PROBLEMS, **(models or {})}
    for model in models.values():
        _ROUTE_PROBLEMS[model.__name__] = model
    return {
        s: {
            "content": _problem_content(models.get(s, Problem)),
            "description": _STATUS_SLUGS.get(s, ("error", "Error"))[1],
        }
        for s in statuses
    }


def problem_schemas() -> dict[str, Any]:
    """The component schemas of the problem bodies (and of what their members refer to)."""
    models: dict[str, type[Problem]] = {
        m.__name__: m for m in (Problem, ValidationProblem, RateLimitProblem)
    }
    models.update(_ROUTE_PROBLEMS)
    _, top = models_json_schema(
        [(models[name], "serialization") for name in sorted(models)], ref_template=_REF
    )
    return dict(top.get("$defs", {}))


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the API does: every error is problem+json, the 422
    included (FastAPI documents its own HTTPValidationError shape by default)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(problem_schemas())
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {
                    "description": "The request is not valid",
                    "content": _problem_content(ValidationProblem),
                }
            # What any route can answer besides its own errors: a body that is not JSON or
            # too large, the per-account rate limit on every authenticated call, and the
            # database being unreachable.
            extra = [503]
            if "requestBody" in operation:
                extra += [400, 413]
            if operation.get("security"):
                extra += [429]
            for status, entry in problem_responses(*extra).items():
                responses.setdefault(str(status), entry)
    return schema
