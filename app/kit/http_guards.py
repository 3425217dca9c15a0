"""HTTP guards around the app: a request-body size limit (413 problem+json, before the body
is read into memory) and security headers on every response. The API serves JSON only, so the
strictest content policy fits it; a response that sets a policy of its own keeps it (the
interactive docs' pages, app/kit/api_docs.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE


class BodyLimitMiddleware:
    """Refuse bodies over `max_bytes`: at once from Content-Length, or while a chunked body is
    read (the handler then gets a 413 it renders as problem+json, and has written nothing).
    `limits` raises (or lowers) the cap for named routes, by (method, path): a file upload."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, limits: Mapping[tuple[str, str], int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits = dict(limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.limits.get((scope["method"], scope["path"]), self.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            await self._refuse(scope, send, cap)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise HTTPException(413, self._detail(cap))
            return message

        await self.app(scope, counting_receive, send)

    @staticmethod
    def _detail(cap: int) -> str:
        return f"The request body is larger than {cap:,} bytes."

    async def _refuse(self, scope: Scope, send: Send, cap: int) -> None:
        body = json.dumps(
            {
                "type": PROBLEM_BASE + "payload-too-large",
                "title": "Request body too large",
                "status": 413,
                "detail": self._detail(cap),
                "instance": scope["path"],
                "request_id": (scope.get("state") or {}).get("request_id"),
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


API_POLICY = "default-src 'none'; frame-ancestors 'none'"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/v1/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", API_POLICY.encode()),
                    (b"cross-origin-opener-policy", b"same-origin"),
                ]
                if api:
                    # Answers carry personal and billing data: never stored by caches.
                    extra.append((b"cache-control", b"no-store"))
                if self.hsts:
                    extra.append(
                        (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
                    )
                headers += [(k, v) for k, v in extra if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
