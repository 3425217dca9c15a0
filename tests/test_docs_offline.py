"""/docs (Swagger UI) and /redoc (ReDoc) render in a real browser with no network: a live
`mdmatch serve` and Debian's headless Chromium, whose host resolver finds nothing but loopback
(a page that still needs a CDN renders blank). Each page must list every operation of the
served OpenAPI document, and every request the page makes must go to the server under test
(read from Chromium's net log)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.devtools.stripe_emulator import free_port
from tests.conftest import scratch_database
from tests.live import serve_process

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Offline, whatever the machine's network: only loopback resolves.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    # Swagger UI and ReDoc fetch /openapi.json and render after the load event; virtual time
    # runs until the page is idle, up to this budget.
    "--virtual-time-budget=20000",
]
# A rendered Swagger UI operation: its method, then its path.
SWAGGER_OPERATION = re.compile(
    r'class="opblock-summary-method">(\w+)</span>'
    r'.*?class="opblock-summary-path" data-path="([^"]+)"'
)
# A ReDoc side-menu entry for an operation.
REDOC_MENU_OPERATION = re.compile(r'data-item-id="tag/[^/"]+/operation/([^"]+)" role="menuitem"')


@pytest.fixture
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    reason = f"{CHROMIUM} is not installed (Debian package chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def live_server(pg_server_url: str) -> Iterator[str]:
    with (
        tempfile.TemporaryFile("w+") as log,
        scratch_database(pg_server_url, migrate=False) as url,
        serve_process(url, free_port(), output=log) as (base, _),
    ):
        yield base


@pytest.fixture(scope="module")
def operations(live_server: str) -> list[tuple[str, str, str]]:
    """(METHOD, path, operationId) of every operation the server documents."""
    spec = httpx.get(f"{live_server}/openapi.json", timeout=10).json()
    return [
        (method.upper(), path, operation["operationId"])
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def render(chromium: Path, base: str, page: str, workdir: Path) -> tuple[str, list[str]]:
    """The page's DOM after its scripts ran, and the URLs of the requests the page made."""
    net_log = workdir / "net-log.json"
    result = subprocess.run(  # noqa: S603
        [
            str(chromium),
            *FLAGS,
            f"--user-data-dir={workdir / 'profile'}",
            f"--log-net-log={net_log}",
            "--dump-dom",
            base + page,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    # The page's own requests (the browser's background ones carry no page origin).
    starts = [e.get("params", {}) for e in log["events"] if e["type"] == start_job]
    requested = [params["url"] for params in starts if params.get("initiator") == base]
    return result.stdout, requested


def assert_only_local(requested: list[str], base: str, *expected: str) -> None:
    external = [url for url in requested if not url.startswith(f"{base}/")]
    assert not external, f"the page requested {external}"
    paths = {url.removeprefix(base) for url in requested}
    assert set(expected) <= paths, paths


def test_swagger_ui_renders_every_operation_offline(chromium, live_server, operations, tmp_path):
    dom, requested = render(chromium, live_server, "/docs", tmp_path)
    rendered = set(SWAGGER_OPERATION.findall(dom))
    assert ("POST", "/v1/quotes") in rendered
    assert ("POST", "/v1/clinics/{clinic_id}/intakes") in rendered
    assert rendered == {(method, path) for method, path, _ in operations}
    assert dom.count('class="opblock opblock-') == len(operations)
    assert_only_local(
        requested,
        live_server,
        "/docs-static/swagger-ui-bundle.js",
        "/docs-static/swagger-ui.css",
        "/openapi.json",
    )


def test_redoc_renders_every_operation_offline(chromium, live_server, operations, tmp_path):
    dom, requested = render(chromium, live_server, "/redoc", tmp_path)
    rendered = REDOC_MENU_OPERATION.findall(dom)
    assert "instant_quote" in rendered
    assert "create_intake" in rendered
    assert sorted(rendered) == sorted(operation_id for _, _, operation_id in operations)
    assert_only_local(requested, live_server, "/docs-static/redoc.standalone.js", "/openapi.json")
