"""The NPPES stand-in of `tests/fakes/nppes.py` served over loopback HTTP, for tests that run
the server as a separate process (which cannot be handed an httpx transport)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tests.fakes.nppes import FakeNppes


@contextlib.contextmanager
def nppes_over_http(fake: FakeNppes) -> Iterator[str]:
    """Serve `fake` on a free loopback port; yields its base URL (for `NPPES_BASE_URL`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            request = httpx.Request("GET", f"http://127.0.0.1{self.path}")
            try:
                answer = fake.handler(request)
            except httpx.TransportError:
                self.close_connection = True  # a failure the fake was told to simulate
                return
            body = answer.content
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: NPIs are in the query strings

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
