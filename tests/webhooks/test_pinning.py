"""A delivery connects to the address that was checked: the endpoint's name is resolved once,
every address must be public, and the TCP connection goes to that IP, with the name as the
`Host` header and as the TLS server name (the certificate is checked against the name). A DNS
answer that changes after the check (rebinding to 127.0.0.1, the metadata service, an internal
address) is never asked for.

The connection is observed below httpx, at httpcore's network backend (the production client,
only its sockets replaced): what is recorded is the address connected to, the TLS server name
and the bytes written."""

from __future__ import annotations

import ssl
import typing
import uuid

import httpcore
import httpx
import pytest

from app.webhooks import delivery as engine
from app.webhooks.delivery import Prepared
from tests.billing.helpers import confirmed_engagement
from tests.webhooks.helpers import record_event, register_endpoint, run_deliveries, run_fan_out

PUBLIC = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class Stream(httpcore.AsyncMockStream):
    def __init__(self, backend: Backend) -> None:
        super().__init__([b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\naccepted"])
        self.backend = backend

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109 (httpcore's signature)
        self.backend.written += buffer

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
    ) -> httpcore.AsyncNetworkStream:
        self.backend.server_names.append(server_hostname)
        return self


class Backend(httpcore.AsyncNetworkBackend):
    """Records each connection (address, port), each TLS server name and every byte written;
    answers 200, or refuses the connection to the addresses in `refuse`."""

    def __init__(self, refuse: tuple[str, ...] = ()) -> None:
        self.refuse = set(refuse)
        self.connects: list[tuple[str, int]] = []
        self.server_names: list[str | None] = []
        self.written = bytearray()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        if host in self.refuse:
            raise httpcore.ConnectError(f"connection to {host} refused")
        return Stream(self)

    async def sleep(self, seconds: float) -> None:
        pass


def production_client(backend: Backend) -> httpx.AsyncClient:
    """The client deliveries use, with its sockets replaced by `backend`."""
    client = engine.http_client()
    transport = client._transport
    assert isinstance(transport, httpx.AsyncHTTPTransport)
    transport._pool._network_backend = backend
    return client


class Resolver:
    """Answers each look-up with the next of `answers` (the last again and again)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


def prepared(url: str) -> Prepared:
    return Prepared(
        attempt_id=uuid.uuid4(),
        delivery_id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        number=1,
        url=url,
        body=b'{"id":"x"}',
        secrets=("whsec_test",),
    )


@pytest.fixture
def strict(settings):
    """The production rule: loopback is not an allowed address."""
    return settings.model_copy(update={"webhook_allow_http_loopback": False})


async def test_a_name_rebound_to_loopback_after_the_check_is_still_sent_to_the_checked_address(
    monkeypatch, strict
):
    resolver = Resolver([PUBLIC], ["127.0.0.1"])
    monkeypatch.setattr(engine, "resolve", resolver)
    backend = Backend()
    async with production_client(backend) as http:
        answer = await engine.send(http, strict, prepared("https://hooks.example.com/mdmatch?t=1"))

    assert (answer.status_code, answer.body, answer.error) == (200, "accepted", None)
    assert resolver.calls == [("hooks.example.com", 443)]  # resolved once
    assert backend.connects == [(PUBLIC, 443)]  # the address checked, not a second answer's
    assert backend.server_names == ["hooks.example.com"]  # the certificate is checked for it
    request = bytes(backend.written)
    assert request.startswith(b"POST /mdmatch?t=1 HTTP/1.1\r\n")
    assert b"\r\nHost: hooks.example.com\r\n" in request
    assert PUBLIC.encode() not in request


async def test_an_ipv6_address_and_an_explicit_port_are_kept(monkeypatch, strict):
    monkeypatch.setattr(engine, "resolve", Resolver([PUBLIC_V6]))
    backend = Backend()
    async with production_client(backend) as http:
        answer = await engine.send(http, strict, prepared("https://hooks.example.com:8443/in"))
    assert answer.status_code == 200
    assert backend.connects == [(PUBLIC_V6, 8443)]
    assert backend.server_names == ["hooks.example.com"]
    assert b"\r\nHost: hooks.example.com:8443\r\n" in backend.written
    assert engine.pinned_url("https://hooks.example.com:8443/in?a=b", PUBLIC_V6) == (
        f"https://[{PUBLIC_V6}]:8443/in?a=b"
    )
    assert engine.pinned_url("https://hooks.example.com/", PUBLIC) == f"https://{PUBLIC}/"


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        [PUBLIC, "10.0.0.7"],  # one private address among public ones is enough
        ["169.254.169.254"],
        ["::ffff:127.0.0.1"],
        ["2002:a00:1::1"],  # 6to4 of 10.0.0.1
        ["64:ff9b::a9fe:a9fe"],  # NAT64 of 169.254.169.254
    ],
)
async def test_a_name_with_any_non_public_address_is_not_connected_to(monkeypatch, strict, answer):
    monkeypatch.setattr(engine, "resolve", Resolver(answer))
    backend = Backend()
    async with production_client(backend) as http:
        result = await engine.send(http, strict, prepared("https://hooks.example.com/"))
    assert result.status_code is None
    assert result.error is not None
    assert result.error.startswith("refused: hooks.example.com resolves to a non-public address")
    assert backend.connects == []


async def test_the_next_checked_address_is_tried_when_one_refuses_the_connection(
    monkeypatch, strict
):
    monkeypatch.setattr(engine, "resolve", Resolver([PUBLIC_V6, PUBLIC]))
    backend = Backend(refuse=(PUBLIC_V6,))
    async with production_client(backend) as http:
        answer = await engine.send(http, strict, prepared("https://hooks.example.com/"))
    assert answer.status_code == 200
    assert backend.connects == [(PUBLIC_V6, 443), (PUBLIC, 443)]
    # Every address refusing: the last error is the attempt's.
    monkeypatch.setattr(engine, "resolve", Resolver([PUBLIC]))
    backend = Backend(refuse=(PUBLIC,))
    async with production_client(backend) as http:
        answer = await engine.send(http, strict, prepared("https://hooks.example.com/"))
    assert answer.status_code is None
    assert answer.error is not None
    assert "ConnectError" in answer.error


async def test_a_connection_made_for_one_name_is_not_reused_for_another_at_the_same_address(
    monkeypatch, strict
):
    monkeypatch.setattr(engine, "resolve", Resolver([PUBLIC]))
    backend = Backend()
    async with production_client(backend) as http:
        for url in ("https://a.example.com/", "https://b.example.com/", "https://b.example.com/"):
            assert (await engine.send(http, strict, prepared(url))).status_code == 200
    # One connection, and one certificate check, per request: never another name's.
    assert backend.connects == [(PUBLIC, 443)] * 3
    assert backend.server_names == ["a.example.com", "b.example.com", "b.example.com"]


def test_the_tls_context_checks_the_certificate_and_its_name():
    context = engine._tls_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True


async def test_a_real_delivery_to_a_name_connects_to_its_address_with_the_name_as_host(
    client, session, settings, receiver
):
    # `localhost` is resolved by the system (to ::1 and/or 127.0.0.1; the receiver listens on
    # 127.0.0.1 only, so an ::1 answered first is refused and the next address is tried).
    url = f"http://localhost:{receiver.port}/hooks/mdmatch"
    engaged = await confirmed_engagement(client, session, settings)
    await register_endpoint(client, engaged.admin, url)
    event = await record_event(session, engaged)
    await run_fan_out(session, event)
    assert await run_deliveries(session) == ["delivered"]
    [request] = receiver.requests
    assert request.headers["host"] == f"localhost:{receiver.port}"
    assert request.path == "/hooks/mdmatch"
