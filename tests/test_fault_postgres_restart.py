"""Fault: PostgreSQL restarts under load.

The hardening requirement: while the database is down, requests fail fast with
503 problem+json and Retry-After (never a 500, never a hang until the client's timeout); once it
is back, the same server process answers 2xx again by itself within seconds; no intake that was
acknowledged with a 2xx is lost.

The test runs a PostgreSQL of its own (pgserver's binaries, a data directory in a temporary
folder, TCP on a fixed loopback port, as a deployed app reaches its database), never the shared
test server, because it stops it: an immediate stop (the postmaster and every backend quit at
once, as in a crash; the next start runs crash recovery from the WAL), then a start on the same
data directory and port. `mdmatch serve` runs against it as a child process, with its in-process
job worker, while several clients keep creating intakes and one keeps asking for password resets
(a job queued per request).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from app.config import libpq_url
from app.devtools.embedded_postgres import with_database
from app.devtools.stripe_emulator import EMULATOR_SECRET_KEY, EMULATOR_WEBHOOK_SECRET, free_port
from app.errors import PROBLEM_MEDIA_TYPE
from app.migrate import upgrade
from tests.clinics.helpers import create_clinic, intake_body
from tests.conftest import seed_reference
from tests.factories import bearer, login, register
from tests.live import serve_process

pytestmark = pytest.mark.fault

CLIENTS = 4
# How long PostgreSQL stays down. Long enough for every client to see several 503s.
DOWN_SECONDS = 4.0
# The client's own timeout: a request that hangs on a dead database would take this long.
CLIENT_TIMEOUT_SECONDS = 30.0
# A failed request must come back well before the client's timeout. Generous on purpose (a
# loaded CI machine; they take about 0.1 s here); what it rules out is a wait on the pool
# timeout (10 s) or the job queue pool's (30 s). A connection attempt made while PostgreSQL is
# shutting down can sit in its listen backlog until the connect timeout, which is what that
# setting bounds: the server under test runs with CONNECT_TIMEOUT_SECONDS.
CONNECT_TIMEOUT_SECONDS = 1.5
FAIL_FAST_SECONDS = 3.0
# The same server process answers 2xx again this soon after PostgreSQL accepts connections.
RECOVERY_SECONDS = 10.0
# Load that keeps running after recovery, which must all succeed.
STEADY_SECONDS = 2.0


class RestartablePostgres:
    """PostgreSQL (pgserver's build) on a data directory and loopback port of the test's own, with
    the stop and start that pgserver's handle does not offer (it stops only at its last exit)."""

    def __init__(self, root: Path, port: int) -> None:
        self.data_dir = root / "data"
        self.port = port
        # Inside the data directory: the server's system user can write there.
        self.log = self.data_dir / "server.log"
        self.output = root / "commands.log"
        self.user: str | None = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from pgserver._commands import POSTGRES_BIN_PATH
        self.bin = Path(POSTGRES_BIN_PATH)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, program: str, *args: str) -> None:
        # Output to a file, not a pipe: `pg_ctl start` leaves the server holding what it inherits.
        with self.output.open("a") as output:
            try:
                subprocess.run(  # noqa: S603 - pgserver's binaries, our arguments
                    [str(self.bin / program), "-D", str(self.data_dir), *args],
                    check=True,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    user=self.user,
                    timeout=120,
                )
            except subprocess.CalledProcessError as exc:
                raise AssertionError(
                    f"{program} {' '.join(args)} failed:\n{self.output.read_text()[-3000:]}\n"
                    f"server log:\n{self.log_text()[-3000:]}"
                ) from exc

    def init(self) -> None:
        self.data_dir.mkdir()
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; like pgserver, run it as its system user.
            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            entry = ensure_user_exists("pgserver")
            assert entry is not None
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_prefix_permissions(self.data_dir)
            ensure_prefix_permissions(self.bin)
            ensure_folder_permissions(self.bin, stat.S_IXGRP | stat.S_IXOTH | readable)
            ensure_folder_permissions(self.bin.parent / "lib", readable)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            self.user = "pgserver"
        self._run("initdb", "--auth=trust", "--encoding=utf8", "-U", "postgres")

    def start(self) -> None:
        # TCP only (no unix socket): the app reaches it as it reaches a deployed database.
        options = f"-h 127.0.0.1 -p {self.port} -k ''"
        self._run("pg_ctl", "-w", "-t", "60", "-l", str(self.log), "-o", options, "start")

    def crash(self) -> None:
        """Stop as a crash does: an immediate stop, and where that does not finish in time (a
        CI run once saw the postmaster wait on a child past pg_ctl's timeout after it had sent
        SIGKILL), the postmaster and every backend killed outright. Either way the next start
        runs crash recovery from the WAL."""
        try:
            self._run("pg_ctl", "-w", "-t", "20", "-m", "immediate", "stop")
        except AssertionError:
            self.kill()

    def kill(self) -> None:
        pid = self.postmaster_pid()
        if pid is None:
            return
        # Frozen first, so it forks no backend between the listing and the kill.
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGSTOP)
        family = [pid, *children_of(pid)]
        for member in family:
            with contextlib.suppress(OSError):
                os.kill(member, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while any(is_alive(member) for member in family) and time.monotonic() < deadline:
            time.sleep(0.05)
        # A killed postmaster nobody has reaped yet still answers kill(pid, 0); its lock file
        # would make the next start refuse. Its backends are gone, so the file is stale.
        with contextlib.suppress(OSError):
            (self.data_dir / "postmaster.pid").unlink()

    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid (None: not running)."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if is_alive(pid) else None

    def is_running(self) -> bool:
        return self.postmaster_pid() is not None

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def is_alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped, is not)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may contain spaces.
    return status.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


@contextlib.contextmanager
def own_postgres() -> Iterator[RestartablePostgres]:
    """A fresh server in a temporary folder; stopped and deleted afterwards, whatever happened."""
    # Directly under the system temp folder: pgserver's permission helper opens every parent of
    # the data directory to its system user, and /tmp already is.
    root = Path(tempfile.mkdtemp(prefix="mdmatch-pgfault-"))
    server = RestartablePostgres(root, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.is_running():
            with contextlib.suppress(AssertionError, subprocess.SubprocessError, OSError):
                server.crash()
        server.kill()  # whatever the stop left running
        shutil.rmtree(root, ignore_errors=True)


def create_migrated_database(server_url: str) -> str:
    name = f"mdmatch_fault_{secrets.token_hex(4)}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    upgrade(url)
    asyncio.run(seed_reference(url))
    return url


@dataclass
class Outcome:
    kind: str
    started: float
    finished: float
    status: int | None  # None: no HTTP answer at all
    content_type: str = ""
    retry_after: str | None = None
    problem_type: str | None = None
    intake_id: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def seconds(self) -> float:
        return self.finished - self.started

    def __str__(self) -> str:
        what = self.error or f"{self.status} {self.content_type} {self.problem_type}"
        return f"{self.kind}: {what} after {self.seconds:.2f} s"


@dataclass
class Clinic:
    email: str
    headers: dict[str, str]
    clinic_id: str


async def sign_up(http: httpx.AsyncClient) -> Clinic:
    email = (await register(http, "clinic_admin"))["email"]
    headers = bearer((await login(http, email))["access_token"])
    clinic = await create_clinic(http, headers, ("TX",))
    return Clinic(email, headers, str(clinic["id"]))


async def keep_requesting(
    kind: str,
    send: Callable[[], Awaitable[httpx.Response]],
    outcomes: list[Outcome],
    stop: asyncio.Event,
) -> None:
    """Send one request after the other until told to stop, recording each outcome; after a
    failure, pause briefly (a client backing off, and no busy loop)."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            response = await send()
        except httpx.HTTPError as exc:
            outcomes.append(Outcome(kind, started, time.monotonic(), None, error=repr(exc)))
            await asyncio.sleep(0.1)
            continue
        outcome = Outcome(
            kind,
            started,
            time.monotonic(),
            response.status_code,
            content_type=response.headers.get("content-type", ""),
            retry_after=response.headers.get("retry-after"),
        )
        if response.status_code == 201 and kind == "intake":
            outcome.intake_id = str(response.json()["id"])
        elif response.headers.get("content-type") == PROBLEM_MEDIA_TYPE:
            outcome.problem_type = response.json().get("type")
        outcomes.append(outcome)
        if not outcome.ok:
            await asyncio.sleep(0.1)


async def wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def listed_intake_ids(http: httpx.AsyncClient, clinic: Clinic) -> set[str]:
    ids: set[str] = set()
    params: dict[str, str | int] = {"limit": 200}
    while True:
        page = await http.get(
            f"/v1/clinics/{clinic.clinic_id}/intakes", params=params, headers=clinic.headers
        )
        assert page.status_code == 200, page.text
        body = page.json()
        ids.update(str(item["id"]) for item in body["items"])
        if not body["next_cursor"]:
            return ids
        params["cursor"] = body["next_cursor"]


@pytest.fixture
def postgres() -> Iterator[RestartablePostgres]:
    with own_postgres() as server:
        yield server


@pytest.fixture
async def live(
    postgres: RestartablePostgres, stripe_url: str, tmp_path: Path
) -> AsyncIterator[tuple[str, subprocess.Popen[str], Path, str]]:
    """`mdmatch serve` (with its in-process worker) on a migrated, seeded database of the test's
    own server; its log goes to a file."""
    url = await asyncio.to_thread(create_migrated_database, postgres.url)
    log_path = tmp_path / "serve.log"
    env = {
        # The session's Stripe emulator, not one of the server's own.
        "STRIPE_SECRET_KEY": EMULATOR_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": EMULATOR_WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_BACKEND": "localstripe",
        "LOG_LEVEL": "INFO",
        "LOG_JSON": "true",
        # The load includes a stream of password-reset requests (for unknown addresses).
        "RATE_LIMIT_PASSWORD_RESET": "100000/minute",
        "DATABASE_CONNECT_TIMEOUT_SECONDS": str(CONNECT_TIMEOUT_SECONDS),
    }
    with log_path.open("w") as output:
        server = serve_process(url, free_port(), output=output, env_overrides=env)
        base, proc = await asyncio.to_thread(server.__enter__)
        try:
            yield base, proc, log_path, url
        finally:
            await asyncio.to_thread(server.__exit__, None, None, None)


def log_events(log_path: Path) -> list[dict[str, object]]:
    events = []
    for line in log_path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            event = json.loads(line)
            if isinstance(event, dict):
                events.append(event)
    return events


async def test_postgres_restart_under_load_fails_fast_with_503_and_recovers_without_loss(
    postgres: RestartablePostgres, live: tuple[str, subprocess.Popen[str], Path, str]
) -> None:
    base, proc, log_path, database_url = live
    timeout = httpx.Timeout(CLIENT_TIMEOUT_SECONDS)
    limits = httpx.Limits(max_connections=CLIENTS * 2)
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits) as http:
        clinics = [await sign_up(http) for _ in range(CLIENTS)]
        outcomes: list[Outcome] = []
        stop_load = asyncio.Event()

        def create_intake(clinic: Clinic) -> Callable[[], Awaitable[httpx.Response]]:
            return lambda: http.post(
                f"/v1/clinics/{clinic.clinic_id}/intakes",
                json=intake_body(),
                headers=clinic.headers,
            )

        def request_reset() -> Awaitable[httpx.Response]:
            # Each queues a job (for an unknown address: nobody gets an e-mail).
            email = f"nobody-{uuid.uuid4().hex[:12]}@example.com"
            return http.post("/v1/auth/password-reset", json={"email": email})

        senders = [("intake", create_intake(c)) for c in clinics] + [("reset", request_reset)]
        kinds = {kind for kind, _ in senders}
        load = [
            asyncio.create_task(keep_requesting(kind, send, outcomes, stop_load))
            for kind, send in senders
        ]

        def first_success_since(moment: float) -> float | None:
            """When every kind of request had succeeded again, for requests started after
            `moment` (None: not yet)."""
            firsts = []
            for kind in kinds:
                done = [
                    o.finished for o in outcomes if o.kind == kind and o.ok and o.started >= moment
                ]
                if not done:
                    return None
                firsts.append(min(done))
            return max(firsts)

        try:
            warm = await wait_until(lambda: sum(o.ok for o in outcomes) >= 4 * len(senders), 30)
            assert warm, [str(o) for o in outcomes if not o.ok][:10]
            assert first_success_since(0) is not None, [str(o) for o in outcomes][:10]

            stopping_at = time.monotonic()
            await asyncio.to_thread(postgres.crash)
            down_at = time.monotonic()
            assert not postgres.is_running()
            await asyncio.sleep(DOWN_SECONDS)
            restart_at = time.monotonic()
            await asyncio.to_thread(postgres.start)
            up_at = time.monotonic()

            came_back = await wait_until(
                lambda: first_success_since(up_at) is not None, RECOVERY_SECONDS
            )
            if came_back:
                await asyncio.sleep(STEADY_SECONDS)
        finally:
            stop_load.set()
            await asyncio.gather(*load)
        recovered_at = first_success_since(up_at)

        failures = [o for o in outcomes if not o.ok]
        during_outage = [o for o in outcomes if o.finished > stopping_at and o.started < restart_at]
        print(
            "postgres restart under load:",
            {
                "requests": len(outcomes),
                "ok": len(outcomes) - len(failures),
                "failed": len(failures),
                "down_s": round(up_at - down_at, 2),
                "recovered_s": round(recovered_at - up_at, 2) if recovered_at else None,
                "slowest_during_outage_s": round(
                    max((o.seconds for o in during_outage), default=0), 2
                ),
                "slowest_failure_s": round(max((o.seconds for o in failures), default=0), 2),
            },
        )

        # Nothing but 2xx and 503, and no request without an answer (a hang, a reset).
        unexpected = [str(o) for o in outcomes if not o.ok and o.status != 503]
        assert not unexpected, unexpected[:10]
        # Every 503 is problem+json of the documented type and tells the client when to retry.
        for o in failures:
            assert o.content_type == PROBLEM_MEDIA_TYPE, str(o)
            assert o.problem_type is not None, str(o)
            assert o.problem_type.endswith("/service-unavailable"), str(o)
            assert o.retry_after is not None, str(o)
            assert int(o.retry_after) >= 1, str(o)
        # Fast: well before the client's own timeout, not after a connect or pool timeout; nor
        # held until the database is back (whatever the answer then): every request in flight
        # during the outage.
        slow = [str(o) for o in during_outage + failures if o.seconds > FAIL_FAST_SECONDS]
        assert not slow, slow

        # While the database was down: nothing but 503s, for every kind of request.
        while_down = [o for o in outcomes if o.started >= down_at and o.finished <= restart_at]
        assert {o.kind for o in while_down} == kinds, [str(o) for o in while_down]
        assert all(o.status == 503 for o in while_down), [str(o) for o in while_down if o.ok]

        # Back by itself: the same process answers 2xx soon after PostgreSQL is up, and keeps
        # doing so.
        assert came_back, (
            f"not every kind of request succeeded within {RECOVERY_SECONDS} s of the restart: "
            f"{[str(o) for o in outcomes if o.started >= up_at][-10:]}"
        )
        assert recovered_at is not None
        assert proc.poll() is None  # the same process all along
        after = [str(o) for o in outcomes if o.started > recovered_at and not o.ok]
        assert not after, after

        # No acknowledged intake is lost: each is in the database and listed by the API.
        acknowledged = {o.intake_id for o in outcomes if o.intake_id is not None}
        assert acknowledged
        with psycopg.connect(libpq_url(database_url)) as conn:
            stored = {
                str(row[0])
                for row in conn.execute(
                    "SELECT id FROM intakes WHERE id = ANY(%s)",
                    ([uuid.UUID(i) for i in acknowledged],),
                )
            }
        assert acknowledged - stored == set()
        listed: set[str] = set()
        for clinic in clinics:
            listed |= await listed_intake_ids(http, clinic)
        assert acknowledged - listed == set()

        # The in-process job worker is back too: a password reset queued now is sent.
        reset = await http.post("/v1/auth/password-reset", json={"email": clinics[0].email})
        assert reset.status_code == 202, reset.text

        def reset_sent() -> bool:
            return any(
                e.get("event") == "email" and e.get("to") == clinics[0].email
                for e in log_events(log_path)
            )

        assert await wait_until(reset_sent, 20), "the worker did not send the reset e-mail"

    # The server logged each 503 as such, and none as an exception that escaped the app.
    events = log_events(log_path)
    assert any(e.get("event") == "database_unavailable" for e in events)
    escaped = [
        e
        for e in events
        if e.get("event") in ("unhandled_exception", "Exception in ASGI application\n")
    ]
    assert not escaped, escaped[:3]
