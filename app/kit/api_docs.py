"""The interactive API docs, /docs (Swagger UI) and /redoc (ReDoc), served with no network:
their scripts, styles and icon come from the fastapi-offline package, mounted under
/docs-static, instead of FastAPI's CDN defaults.

Each page sets its own content policy (SecurityHeadersMiddleware keeps it): everything from
this origin only, and of inline scripts only the page's own, allowed by their hashes."""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_URL = "/docs-static"
DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
REDOC_URL = "/redoc"

# ReDoc's styled-components and React's style attributes need inline styles; they run no code.
# ReDoc's search runs in a worker it starts from a blob: URL.
POLICY = (
    "default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src blob:; frame-ancestors 'none'"
)
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def with_policy(page: HTMLResponse) -> HTMLResponse:
    html = bytes(page.body).decode()
    hashes = (
        base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        for script in INLINE_SCRIPT.findall(html)
    )
    scripts = " ".join(["'self'", *(f"'sha256-{digest}'" for digest in hashes)])
    page.headers["content-security-policy"] = POLICY.format(scripts=scripts)
    return page


def install_api_docs(app: FastAPI) -> None:
    """For an app created with docs_url=None and redoc_url=None."""
    app.mount(
        STATIC_URL,
        StaticFiles(packages=[("fastapi_offline", "static")]),
        name="docs-static",
    )
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return with_policy(
            get_swagger_ui_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=OAUTH2_REDIRECT_URL,
                swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
                # Otherwise Swagger UI sends the document to swagger.io's online validator.
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        return with_policy(get_swagger_ui_oauth2_redirect_html())

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return with_policy(
            get_redoc_html(
                openapi_url=root + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
                with_google_fonts=False,
            )
        )
