"""The HTTP benchmark behind `bench/run`: one command, one machine, one run.

It starts its own PostgreSQL (embedded, data under var/pg-bench) and `mdmatch serve` (one
uvicorn worker, the job worker in-process, the Stripe emulator), pins them to CPUs with
`taskset`, loads synthetic data with the product's bulk loader, and measures:

* the floor: `GET /healthz` (bare JSON) and `GET /healthz/db` (`SELECT 1` through the app's
  pool) — the same app stack, middleware and all;
* `POST /v1/quotes`, `GET /v1/intakes/{id}/matches`, `POST /v1/billing/stripe/webhook` (signed,
  distinct events) with wrk;
* fresh matching of a submitted intake (`POST /v1/intakes/{id}/submit`) at 10,000 and 100,000
  physicians, and submit → first offer visible to the clinic, sequentially;
* offer accept under 50-way contention (50 physicians hold offers for one intake and accept at
  once: one wins, 49 get 409), with the server restarted at `MATCH_FAN_OUT=50`;
* scale-out: 2 uvicorn workers and 2 task workers, the floor, quotes and matches again.

It prints a table (req/s, p50, p95, p99, and throughput as a ratio of the floors) with CPU
used per process group, checks the throughput targets, and writes both to
bench/results/<date>-<host>.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from app.bulk_seed import CLINIC_EMAIL, bulk_seed
from app.config import libpq_url
from app.devtools.embedded_postgres import embedded_server, with_database
from app.devtools.stripe_emulator import EMULATOR_WEBHOOK_SECRET, free_port
from app.migrate import upgrade
from bench.match_bench import measure as measure_matching
from bench.match_bench import seed as seed_reference

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var" / "bench"
RESULTS = ROOT / "bench" / "results"
PASSWORD = "Bench-Password-Orchid-42"  # noqa: S105 - synthetic accounts on a throwaway database
SERVER_CPU, PG_CPU, LOAD_CPU = "0", "1", "1"
# Scale-out spreads the API processes and task workers over both CPUs of this 2-CPU machine,
# which they share with PostgreSQL and the load generator.
SCALE_OUT_CPUS = "0,1"


# --- processes and CPU -------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its reaped children (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / ticks


def descendants(pid: int) -> list[int]:
    out, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        path = Path(f"/proc/{parent}/task/{parent}/children")
        try:
            kids = [int(k) for k in path.read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            kids = []
        out += kids
        frontier += kids
    return out


def group_cpu(root: int) -> float:
    return sum(cpu_seconds(p) for p in [root, *descendants(root)])


def pin(pid: int, cpus: str) -> None:
    if shutil.which("taskset"):
        subprocess.run(  # noqa: S603
            ["taskset", "-a", "-cp", cpus, str(pid)],  # noqa: S607
            check=False,
            capture_output=True,
        )


def postmaster_pid(url: str) -> int:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute(
            "SELECT setting FROM pg_settings WHERE name = 'data_directory'"
        ).fetchone()
    assert row is not None
    return int((Path(row[0]) / "postmaster.pid").read_text().split()[0])


@dataclass
class Server:
    proc: subprocess.Popen[str]
    base: str
    workers: list[subprocess.Popen[str]] = field(default_factory=list)

    def cpu(self) -> float:
        return group_cpu(self.proc.pid) + sum(group_cpu(w.pid) for w in self.workers)

    def stop(self) -> None:
        for p in [self.proc, *self.workers]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [self.proc, *self.workers]:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def start_server(url: str, *, env_extra: dict[str, str], scale_out: bool = False) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=url,
        ENVIRONMENT="local",
        STRIPE_EMULATOR_PORT=str(free_port()),
        LOG_LEVEL="WARNING",
        RATE_LIMIT_QUOTES="100000000/minute",
        RATE_LIMIT_LOGIN="100000000/minute",
        RATE_LIMIT_LOGIN_PER_ACCOUNT="100000000/minute",
        RATE_LIMIT_REGISTER="100000000/minute",
        RATE_LIMIT_PER_ACCOUNT="100000000/minute",
        DATABASE_POOL_SIZE="20",
    )
    env.update(env_extra)
    log = (VAR / f"server-{port}.log").open("w")
    workers: list[subprocess.Popen[str]] = []
    if scale_out:
        # Two API processes (uvicorn workers) and two task workers on the same database; the
        # emulator is not needed for what is measured here.
        env.update(
            STRIPE_SECRET_KEY="sk_test_bench",  # noqa: S106 - never called in this phase
            STRIPE_WEBHOOK_SECRET=EMULATOR_WEBHOOK_SECRET,
        )
        cmd = [
            "taskset",
            "-c",
            SCALE_OUT_CPUS,
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "app.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            "--no-access-log",
        ]
        for _ in range(2):
            workers.append(
                subprocess.Popen(  # noqa: S603
                    ["taskset", "-c", SCALE_OUT_CPUS, sys.executable, "-m", "app.cli", "worker"],  # noqa: S607
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
    else:
        # One API process; its task worker is not on any measured path (offers are made in
        # the submit request; e-mails and webhook processing happen after the response), and
        # in production it runs as its own process, so it is left out of this process.
        cmd = [
            "taskset",
            "-c",
            SERVER_CPU,
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--no-worker",
            "--port",
            str(port),
        ]
    proc = subprocess.Popen(  # noqa: S603
        cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited; see {log.name}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not become ready; see {log.name}")
        time.sleep(0.3)
    return Server(proc, base, workers)


# --- wrk -------------------------------------------------------------------------------------

DONE_LUA = """
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, '
    .. '"p50": %d, "p95": %d, "p99": %d}\\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


@dataclass
class Figure:
    name: str
    rps: float | None
    p50_ms: float
    p95_ms: float
    p99_ms: float
    samples: int
    errors: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    note: str = ""


def wrk(
    name: str,
    server: Server,
    pg_pid: int,
    path: str,
    *,
    script: str = "",
    seconds: int,
    connections: int,
) -> Figure:
    lua = VAR / f"{name.replace(' ', '_').replace('/', '_')}.lua"
    lua.write_text(script + DONE_LUA)
    before = (server.cpu(), group_cpu(pg_pid), resource.getrusage(resource.RUSAGE_CHILDREN))
    started = time.perf_counter()
    out = subprocess.run(  # noqa: S603
        [  # noqa: S607
            "taskset",
            "-c",
            LOAD_CPU,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(lua),
            server.base + path,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall = time.perf_counter() - started
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    load_cpu = (after_children.ru_utime + after_children.ru_stime) - (
        before[2].ru_utime + before[2].ru_stime
    )
    return Figure(
        name=name,
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50"] / 1000,
        p95_ms=data["p95"] / 1000,
        p99_ms=data["p99"] / 1000,
        samples=data["requests"],
        errors=data["errors"] + data["non2xx"],
        cpu={
            "server": (server.cpu() - before[0]) / wall,
            "postgres": (group_cpu(pg_pid) - before[1]) / wall,
            "wrk": load_cpu / wall,
        },
    )


def lua_request(method: str, body: dict[str, Any] | None, headers: dict[str, str]) -> str:
    lines = [f'wrk.method = "{method}"']
    for k, v in headers.items():
        lines.append(f'wrk.headers["{k}"] = "{v}"')
    if body is not None:
        lines.append("wrk.body = " + json.dumps(json.dumps(body)))
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    return "\n".join(lines) + "\n"


def webhook_lua(count: int) -> str:
    """`count` distinct events, each signed like Stripe signs them, served in turn."""
    now = int(time.time())
    rows = []
    for i in range(count):
        event = {
            "id": f"evt_bench_{uuid.uuid4().hex}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": now,
            "type": "customer.subscription.updated",
            "data": {"object": {"id": f"sub_bench_{i}", "object": "subscription"}},
            "livemode": False,
        }
        payload = json.dumps(event, separators=(",", ":"))
        mac = hmac.new(
            EMULATOR_WEBHOOK_SECRET.encode(), f"{now}.{payload}".encode(), hashlib.sha256
        ).hexdigest()
        rows.append(f'{{{json.dumps(payload)}, "t={now},v1={mac}"}}')
    return (
        "local events = {\n" + ",\n".join(rows) + "\n}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n % #events + 1\n"
        "  local e = events[n]\n"
        '  return wrk.format("POST", nil, {["Content-Type"] = "application/json", '
        '["Stripe-Signature"] = e[2]}, e[1])\n'
        "end\n"
    )


# --- API helpers (the load generator's Python side) --------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def figure(name: str, samples_ms: list[float], *, wall: float | None = None, **kw: Any) -> Figure:
    return Figure(
        name=name,
        rps=(len(samples_ms) / wall) if wall else None,
        p50_ms=percentile(samples_ms, 50),
        p95_ms=percentile(samples_ms, 95),
        p99_ms=percentile(samples_ms, 99),
        samples=len(samples_ms),
        **kw,
    )


async def token(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    r = await http.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


INTAKE = {
    "services": ["neurotoxins", "dermal_fillers"],
    "providers": [{"type": "rn", "count": 2}],
    "engagement_model": "retainer",
    "oversight_mode": "remote",
    "billing_interval": "month",
    "monthly_patient_volume": 200,
    "rush": False,
}


async def texas_clinic(http: httpx.AsyncClient, admin: dict[str, str]) -> str:
    r = await http.post(
        "/v1/clinics",
        headers=admin,
        json={
            "legal_name": f"Bench Glow {uuid.uuid4().hex[:6]} PLLC",
            "ownership_model": "mso",
            "contact": {
                "name": "Bench Owner",
                "email": "owner@benchglow.com",
                "phone": "+1 512 555 0100",
            },
            "locations": [
                {"address": "100 Congress Ave", "city": "Austin", "state": "TX", "zip": "78701"}
            ],
        },
    )
    r.raise_for_status()
    return str(r.json()["id"])


async def draft(http: httpx.AsyncClient, admin: dict[str, str], clinic: str) -> str:
    body = {**INTAKE, "desired_start": (date.today() + timedelta(days=21)).isoformat()}
    r = await http.post(f"/v1/clinics/{clinic}/intakes", headers=admin, json=body)
    r.raise_for_status()
    return str(r.json()["id"])


async def fresh_matching(base: str, admin_email: str, n: int, label: str) -> tuple[Figure, Figure]:
    """Submit `n` fresh intakes one after another: the submit's latency (matching runs in the
    request) and submit → the first offer visible on the clinic's matches."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        admin = await token(http, admin_email)
        clinic = await texas_clinic(http, admin)
        intakes = [await draft(http, admin, clinic) for _ in range(n + 5)]
        submit_ms, first_offer_ms = [], []
        for i, intake in enumerate(intakes):
            t0 = time.perf_counter()
            r = await http.post(f"/v1/intakes/{intake}/submit", headers=admin)
            t1 = time.perf_counter()
            r.raise_for_status()
            while True:
                matches = (await http.get(f"/v1/intakes/{intake}/matches", headers=admin)).json()[
                    "items"
                ]
                if any(m["offer_id"] for m in matches):
                    break
                await asyncio.sleep(0.005)
            t2 = time.perf_counter()
            if i >= 5:  # warm-up
                submit_ms.append((t1 - t0) * 1000)
                first_offer_ms.append((t2 - t0) * 1000)
    return (
        figure(f"fresh matching, {label} physicians (submit)", submit_ms),
        figure(f"submit -> first offer, {label}", first_offer_ms),
    )


async def accept_contention(base: str, url: str, admin_email: str, rounds: int) -> Figure:
    """Per round: one intake offered to 50 physicians, all 50 accept at once."""
    latencies: list[float] = []
    winners = 0
    async with httpx.AsyncClient(
        base_url=base, timeout=30, limits=httpx.Limits(max_connections=60)
    ) as http:
        admin = await token(http, admin_email)
        clinic = await texas_clinic(http, admin)
        for _ in range(rounds):
            intake = await draft(http, admin, clinic)
            (await http.post(f"/v1/intakes/{intake}/submit", headers=admin)).raise_for_status()
            matches = (await http.get(f"/v1/intakes/{intake}/matches", headers=admin)).json()[
                "items"
            ]
            offered = [m for m in matches if m["offer_id"]]
            with psycopg.connect(libpq_url(url)) as conn:
                emails: dict[str, str] = dict(
                    conn.execute(
                        "SELECT p.id::text, u.email FROM physicians p"
                        " JOIN users u ON u.id = p.user_id WHERE p.id = ANY(%s)",
                        ([uuid.UUID(m["physician"]["id"]) for m in offered],),
                    ).fetchall()
                )
            heads = [await token(http, emails[m["physician"]["id"]]) for m in offered]

            async def accept(offer_id: str, head: dict[str, str]) -> tuple[int, float]:
                t0 = time.perf_counter()
                r = await http.post(f"/v1/offers/{offer_id}/accept", headers=head)
                return r.status_code, (time.perf_counter() - t0) * 1000

            results = await asyncio.gather(
                *(accept(m["offer_id"], h) for m, h in zip(offered, heads, strict=True))
            )
            winners += sum(1 for code, _ in results if code == 200)
            latencies += [ms for _, ms in results]
            assert all(code in (200, 409) for code, _ in results), results
    return figure(
        "offer accept, 50-way contention",
        latencies,
        note=f"{rounds} rounds x {len(latencies) // max(rounds, 1)} accepts; {winners} won",
    )


# --- the run ---------------------------------------------------------------------------------


@contextlib.contextmanager
def database(server_url: str | None) -> Iterator[tuple[str, int]]:
    if server_url:
        base = server_url
        ctx: contextlib.AbstractContextManager[str] = contextlib.nullcontext(base)
    else:
        ctx = embedded_server(ROOT / "var" / "pg-bench")
    with ctx as base:
        name = "mdmatch_bench_http"
        with psycopg.connect(libpq_url(base), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = with_database(base, name)
        pg = postmaster_pid(url)
        pin(pg, PG_CPU)  # backends forked from now on inherit it
        try:
            yield url, pg
        finally:
            with psycopg.connect(libpq_url(base), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def argon2_hash(password: str) -> str:
    from pwdlib import PasswordHash

    return PasswordHash.recommended().hash(password)


def seed(url: str, physicians: int, clinics: int, seed_value: int) -> float:
    t0 = time.perf_counter()
    bulk_seed(
        libpq_url(url),
        physicians=physicians,
        clinics=clinics,
        seed=seed_value,
        password_hash=argon2_hash(PASSWORD),
    )
    return time.perf_counter() - t0


def machine() -> dict[str, str]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {
        "host": socket.gethostname(),
        "cpu": f"{cpu}, {os.cpu_count()} CPUs",
        "memory": f"{int(mem) // 1024 // 1024} GiB",
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def render(figures: list[Figure], floors: dict[str, float], extra: list[str]) -> str:
    head = (
        "| scenario | req/s | p50 ms | p95 ms | p99 ms | x bare JSON | x select 1 | samples | "
        "errors | CPU server / pg / load |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
    )
    rows = []
    for f in figures:
        ratio_json = f"{f.rps / floors['json']:.2f}" if f.rps else ""
        ratio_db = f"{f.rps / floors['db']:.2f}" if f.rps else ""
        cpu = (
            " / ".join(f"{f.cpu[k] * 100:.0f}%" for k in ("server", "postgres", "wrk"))
            if f.cpu
            else ""
        )
        p99 = "-" if math.isnan(f.p99_ms) else f"{f.p99_ms:.1f}"
        rows.append(
            f"| {f.name} | {f'{f.rps:,.0f}' if f.rps else '-'} | {f.p50_ms:.1f} | "
            f"{f.p95_ms:.1f} | {p99} | {ratio_json} | {ratio_db} | {f.samples:,} | {f.errors} | "
            f"{cpu} |" + (f" {f.note}" if f.note else "")
        )
    return head + "\n".join(rows) + "\n\n" + "\n".join(extra) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--submits", type=int, default=60, help="fresh intakes per size")
    parser.add_argument("--rounds", type=int, default=8, help="accept-contention rounds")
    parser.add_argument("--server-url", help="PostgreSQL server to use instead of the embedded one")
    parser.add_argument("--no-scale-out", action="store_true")
    args = parser.parse_args()

    VAR.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {int(LOAD_CPU)})  # the Python load generator, beside wrk
    figures: list[Figure] = []
    notes: list[str] = []
    wrk_args = {"seconds": args.seconds, "connections": args.connections}

    with database(args.server_url) as (url, pg):
        upgrade(url)
        asyncio.run(seed_reference(url))
        load_10k = seed(url, 10_000, 200, 11)
        notes.append(f"- Loaded 10,000 physicians and 200 clinics in {load_10k:.1f} s.")
        inproc = {"10,000": asyncio.run(measure_matching(url, 200))}
        server = start_server(url, env_extra={})
        try:
            print("floor ...", file=sys.stderr)
            bare = wrk("floor: bare JSON (GET /healthz)", server, pg, "/healthz", **wrk_args)
            db = wrk("floor: SELECT 1 (GET /healthz/db)", server, pg, "/healthz/db", **wrk_args)
            figures += [bare, db]
            quote_body = {
                **INTAKE,
                "desired_start": (date.today() + timedelta(days=21)).isoformat(),
                "locations": [{"state": "TX", "zip": "78701"}, {"state": "CA", "zip": "90210"}],
                "ownership_model": "mso",
            }
            print("quotes ...", file=sys.stderr)
            figures.append(
                wrk(
                    "POST /v1/quotes",
                    server,
                    pg,
                    "/v1/quotes",
                    script=lua_request("POST", quote_body, {}),
                    **wrk_args,
                )
            )
            admin_email = CLINIC_EMAIL.format(0)
            intake = asyncio.run(_submitted(server.base, admin_email))
            admin = asyncio.run(_headers(server.base, admin_email))
            print("matches ...", file=sys.stderr)
            figures.append(
                wrk(
                    "GET /v1/intakes/{id}/matches",
                    server,
                    pg,
                    f"/v1/intakes/{intake}/matches",
                    script=lua_request("GET", None, admin),
                    **wrk_args,
                )
            )
            print("webhooks ...", file=sys.stderr)
            figures.append(
                wrk(
                    "POST /v1/billing/stripe/webhook",
                    server,
                    pg,
                    "/v1/billing/stripe/webhook",
                    script=webhook_lua(60_000),
                    **wrk_args,
                )
            )
            print("fresh matching at 10,000 ...", file=sys.stderr)
            m10, first10 = asyncio.run(
                fresh_matching(server.base, CLINIC_EMAIL.format(1), args.submits, "10,000")
            )
            figures += [m10, first10]
        finally:
            server.stop()

        load_100k = seed(url, 90_000, 0, 12)
        notes.append(f"- Added 90,000 physicians (100,000 in all) in {load_100k:.1f} s.")
        inproc["100,000"] = asyncio.run(measure_matching(url, 200))
        for size, r in inproc.items():
            figures.append(
                Figure(
                    name=f"matching one intake, {size} physicians (in-process)",
                    rps=None,
                    p50_ms=r["rank_p50"],
                    p95_ms=r["rank_p95"],
                    p99_ms=float("nan"),
                    samples=200,
                    note=f"eligibility + ranking; {r['eligible']:.0f} eligible; with the "
                    f"writes of submit's matching step p50 {r['step_p50']:.1f} / p95 "
                    f"{r['step_p95']:.1f} ms",
                )
            )
        server = start_server(url, env_extra={})
        try:
            print("fresh matching at 100,000 ...", file=sys.stderr)
            m100, first100 = asyncio.run(
                fresh_matching(server.base, CLINIC_EMAIL.format(2), args.submits, "100,000")
            )
            figures += [m100, first100]
        finally:
            server.stop()

        server = start_server(
            url, env_extra={"MATCH_FAN_OUT": "50", "MATCH_CANDIDATES_PER_GROUP": "60"}
        )
        try:
            print("accept contention ...", file=sys.stderr)
            figures.append(
                asyncio.run(
                    accept_contention(server.base, url, CLINIC_EMAIL.format(3), args.rounds)
                )
            )
        finally:
            server.stop()

        scale: list[Figure] = []
        if not args.no_scale_out:
            server = start_server(url, env_extra={}, scale_out=True)
            try:
                print("scale-out ...", file=sys.stderr)
                scale.append(wrk("2 workers: bare JSON", server, pg, "/healthz", **wrk_args))
                scale.append(
                    wrk(
                        "2 workers: POST /v1/quotes",
                        server,
                        pg,
                        "/v1/quotes",
                        script=lua_request("POST", quote_body, {}),
                        **wrk_args,
                    )
                )
                admin = asyncio.run(_headers(server.base, admin_email))
                scale.append(
                    wrk(
                        "2 workers: GET /v1/intakes/{id}/matches",
                        server,
                        pg,
                        f"/v1/intakes/{intake}/matches",
                        script=lua_request("GET", None, admin),
                        **wrk_args,
                    )
                )
            finally:
                server.stop()
            one = {f.name: f for f in figures}
            for f, base_name in zip(
                scale,
                [
                    "floor: bare JSON (GET /healthz)",
                    "POST /v1/quotes",
                    "GET /v1/intakes/{id}/matches",
                ],
                strict=True,
            ):
                base_rps = one[base_name].rps or 1
                f.note = f"{(f.rps or 0) / base_rps:.2f}x one worker"

    floors = {"json": bare.rps or 1, "db": db.rps or 1}
    by = {f.name: f for f in figures}
    rank10 = by["matching one intake, 10,000 physicians (in-process)"]
    rank100 = by["matching one intake, 100,000 physicians (in-process)"]
    targets = [
        (
            "instant quote >= 0.5 x bare JSON throughput",
            (by["POST /v1/quotes"].rps or 0) / floors["json"],
            0.5,
            ">=",
        ),
        ("matching p95 at 100,000 <= 25 ms (in-process)", rank100.p95_ms, 25.0, "<="),
        (
            "matching p95 at 100,000 <= 1.5 x its 10,000 figure (in-process)",
            rank100.p95_ms / rank10.p95_ms,
            1.5,
            "<=",
        ),
        (
            "submit p95 at 100,000 <= 1.5 x its 10,000 figure (HTTP)",
            m100.p95_ms / m10.p95_ms,
            1.5,
            "<=",
        ),
        (
            "webhook ingest >= 0.3 x the SELECT 1 floor",
            (by["POST /v1/billing/stripe/webhook"].rps or 0) / floors["db"],
            0.3,
            ">=",
        ),
        ("submit -> first offer p95 <= 1 s", first100.p95_ms / 1000, 1.0, "<="),
        (
            "accept p99 <= 100 ms under 50-way contention",
            by["offer accept, 50-way contention"].p99_ms,
            100.0,
            "<=",
        ),
    ]
    lines = []
    for label, value, limit, op in targets:
        ok = value >= limit if op == ">=" else value <= limit
        lines.append(f"- {'MET' if ok else 'MISSED'}: {label} (measured {value:.2f})")
    info = machine()
    stamp = datetime.now(UTC)
    header = (
        f"# mdmatch HTTP benchmark, {stamp:%Y-%m-%d %H:%M} UTC\n\n"
        f"Machine: {info['cpu']}, {info['memory']}, Python {info['python']}, kernel "
        f"{info['kernel']} ({info['host']}). Server pinned to CPU {SERVER_CPU}, PostgreSQL to CPU "
        f"{PG_CPU}, wrk and the Python load generator to CPU {LOAD_CPU}; wrk 1 thread, "
        f"{args.connections} connections, {args.seconds} s per run. CPU columns: share of one "
        "CPU used by each group during the run.\n\n"
    )
    table = render(figures + scale, floors, ["Targets:", *lines, "", *notes])
    report = header + table
    print(report)
    name = f"{stamp:%Y-%m-%d}-{info['host']}"
    (RESULTS / f"{name}.md").write_text(report)
    (RESULTS / f"{name}.json").write_text(
        json.dumps(
            {
                "machine": info,
                "at": stamp.isoformat(),
                "figures": [asdict(f) for f in figures + scale],
                "targets": lines,
            },
            indent=2,
        )
    )
    print(f"written to {RESULTS / name}.md", file=sys.stderr)


async def _headers(base: str, email: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        return await token(http, email)


async def _submitted(base: str, admin_email: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        admin = await token(http, admin_email)
        clinic = await texas_clinic(http, admin)
        intake = await draft(http, admin, clinic)
        (await http.post(f"/v1/intakes/{intake}/submit", headers=admin)).raise_for_status()
        return intake


if __name__ == "__main__":
    main()
