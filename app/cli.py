"""The `mdmatch` command: serve, migrate, seed, worker, create-ops-user, and the local-mode
helpers pay, demo and nppes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from app.config import Environment, Settings, get_settings
from app.devtools.stripe_js import TestCard

if TYPE_CHECKING:
    from app.credentials.exclusions import ImportResult

cli = typer.Typer(help="mdmatch: medical-director matching API.", no_args_is_help=True)
console = Console(stderr=True)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def var_dir() -> Path:
    from app.migrate import project_root

    configured = get_settings().local_state_dir
    if configured is not None:
        return configured
    try:
        return project_root() / "var"
    except FileNotFoundError:
        return Path.cwd() / "var"


def _reload_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


@contextlib.contextmanager
def database(stack: contextlib.ExitStack) -> Iterator[Settings]:
    """Settings with a database: DATABASE_URL when set, else the embedded server under var/pg."""
    settings = get_settings()
    if not settings.database_url:
        if settings.environment is Environment.production:
            console.print("[red]DATABASE_URL must be set in production.[/red]")
            raise typer.Exit(2)
        from app.devtools.embedded_postgres import embedded_postgres, is_running

        data = var_dir() / "pg"
        if is_running(data):
            console.print(f"Using the running embedded PostgreSQL (data in {data}) ...")
        else:
            console.print(f"Starting the embedded PostgreSQL (data in {data}) ...")
        os.environ["DATABASE_URL"] = stack.enter_context(embedded_postgres(data))
        settings = _reload_settings()
    yield settings


def _configure_logging(settings: Settings) -> None:
    from app.kit.observability import configure_logging

    configure_logging(settings.log_level, json=settings.log_json)


def _migrate(settings: Settings) -> None:
    from app.migrate import upgrade

    upgrade(settings.require_database_url())


async def _seed(settings: Settings) -> dict[str, int]:
    from app.db import create_engine, create_sessionmaker
    from app.seed import seed_reference_data

    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            return await seed_reference_data(session)
    finally:
        await engine.dispose()


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run a job worker in this process")
    ] = False,
    no_demo_data: Annotated[
        bool,
        typer.Option(
            "--no-demo-data",
            help="Local mode: do not seed the demo physicians and the demo ops account",
        ),
    ] = False,
) -> None:
    """Migrate, seed and serve the API. Local mode starts what is not configured: the embedded
    PostgreSQL, the Stripe emulator, the NPPES stand-in, the object store; see
    docs/local-mode.md."""
    import uvicorn

    from app.main import AppOptions, create_app

    with contextlib.ExitStack() as stack, database(stack) as settings:
        _configure_logging(settings)
        local = settings.environment is Environment.local
        if settings.stripe_secret_key is None and local:
            _start_stripe_emulator(stack, settings, host, port)
        if local and "nppes_base_url" not in settings.model_fields_set:
            _start_nppes_standin(stack, settings)
        if local and settings.s3_endpoint_url is None:
            from app.devtools.object_store import local_object_store

            s3 = stack.enter_context(local_object_store(settings.s3_bucket, settings.s3_region))
            os.environ.update(s3)
            console.print(
                f"Started a local S3-compatible object store (moto) at {s3['S3_ENDPOINT_URL']}, "
                f"bucket {settings.s3_bucket}: credential documents are kept in memory only",
                soft_wrap=True,
            )
        if local and "license_board_checks" not in settings.model_fields_set:
            # No network to the state boards here: licenses are verified by a document review.
            os.environ["LICENSE_BOARD_CHECKS"] = "false"
            console.print(
                "State board look-ups are off in local mode: each license is verified from a "
                "document operations review (set LICENSE_BOARD_CHECKS=true to look them up)",
                soft_wrap=True,
            )
        settings = _reload_settings()
        _migrate(settings)
        counts = asyncio.run(_seed(settings))
        console.print(f"Schema at head; reference data loaded: {counts}")
        if local and not no_demo_data:
            added, ops_created = asyncio.run(_seed_demo(settings, with_ops=True))
            _print_demo_accounts(added, ops_created)
        run_worker = local and not no_worker
        app = create_app(settings, AppOptions(run_worker=run_worker))
        console.print(
            f"[bold green]mdmatch is serving at http://{host}:{port}[/bold green] "
            f"- API docs: http://{host}:{port}/docs"
            + (" (job worker in-process)" if run_worker else ""),
            soft_wrap=True,
        )
        # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into SystemExit so the
        # ExitStack still stops the embedded PostgreSQL and the emulator.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_config=None,
            # The app trusts forwarded headers itself, from FORWARDED_ALLOW_IPS only.
            proxy_headers=False,
        )


def _start_stripe_emulator(
    stack: contextlib.ExitStack, settings: Settings, host: str, port: int
) -> None:
    from app.devtools.stripe_emulator import (
        EMULATOR_SECRET_KEY,
        EMULATOR_WEBHOOK_SECRET,
        register_webhook,
        stripe_emulator,
    )

    base = stack.enter_context(
        stripe_emulator(settings.stripe_emulator_port, var_dir() / "localstripe.pickle")
    )
    os.environ.update(
        STRIPE_SECRET_KEY=EMULATOR_SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=EMULATOR_WEBHOOK_SECRET,
        STRIPE_API_BASE=base,
        STRIPE_BACKEND="localstripe",
    )
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    hook = f"http://{local}:{port}/v1/billing/stripe/webhook"
    register_webhook(base, hook, EMULATOR_WEBHOOK_SECRET)
    console.print(f"Started the Stripe emulator (localstripe) at {base}; webhooks to {hook}")
    if base != f"http://127.0.0.1:{settings.stripe_emulator_port}":
        console.print(
            f"[yellow]Port {settings.stripe_emulator_port} was taken: for `mdmatch pay` and "
            f"`mdmatch demo`, export STRIPE_API_BASE={base} STRIPE_BACKEND=localstripe[/yellow]",
            soft_wrap=True,
        )


def _start_nppes_standin(stack: contextlib.ExitStack, settings: Settings) -> None:
    from app.devtools.nppes import nppes_standin

    base = stack.enter_context(nppes_standin(settings, nppes_registrations()))
    os.environ.update(NPPES_BASE_URL=base, NPPES_BACKEND="standin")
    console.print(
        f"[bold yellow]Started a local NPPES stand-in at {base}: physician verification checks "
        "NPIs against made-up records, NOT the real NPI registry[/bold yellow] (set "
        "NPPES_BASE_URL to use the real one; `mdmatch nppes add` registers a physician's name)",
        soft_wrap=True,
    )


def nppes_registrations() -> Path:
    return var_dir() / "nppes-standin.json"


def _print_demo_accounts(added: int, ops_created: bool) -> None:
    from app.physicians.demo import DEMO_OPS_EMAIL, DEMO_OPS_PASSWORD, DEMO_PASSWORD

    what = f"{added} demo physicians added" if added else "demo physicians present"
    console.print(
        f"Demo accounts ({what}{', ops account created' if ops_created else ''}): "
        f"operations {DEMO_OPS_EMAIL} / {DEMO_OPS_PASSWORD}; physicians "
        f"demo-physician-001..200@mdmatch.dev / {DEMO_PASSWORD}. Tour: `mdmatch demo`",
        soft_wrap=True,
    )


@cli.command()
def migrate() -> None:
    """Upgrade the database schema to the latest migration."""
    with contextlib.ExitStack() as stack, database(stack) as settings:
        _configure_logging(settings)
        _migrate(settings)
        console.print("Schema at head.")


@cli.command()
def seed(
    demo: Annotated[
        bool, typer.Option("--demo", help="Also add 200 verified demo physicians")
    ] = False,
    physicians: Annotated[
        int, typer.Option("--physicians", min=0, help="Add N synthetic physicians (bulk, COPY)")
    ] = 0,
    clinics: Annotated[
        int,
        typer.Option("--clinics", min=0, help="Add M synthetic clinics, each with a draft intake"),
    ] = 0,
    random_seed: Annotated[int, typer.Option("--seed", help="Random seed of the bulk data")] = 7,
    roster: Annotated[
        str, typer.Option(help="Bulk physicians' states: weighted, uniform or texas-fixed")
    ] = "weighted",
) -> None:
    """Load the reference data (idempotent); `--demo` adds a demo physician supply;
    `--physicians N --clinics M` add synthetic load-test data in bulk."""
    with contextlib.ExitStack() as stack, database(stack) as settings:
        _configure_logging(settings)
        _migrate(settings)
        console.print(f"Reference data: {asyncio.run(_seed(settings))}")
        if demo:
            local = settings.environment is Environment.local
            added, ops_created = asyncio.run(_seed_demo(settings, with_ops=local))
            from app.physicians.demo import DEMO_PASSWORD

            console.print(
                f"Demo physicians added: {added} (log in as demo-physician-001@mdmatch.dev "
                f"with password {DEMO_PASSWORD})"
            )
            if local:
                _print_demo_accounts(added, ops_created)
        if physicians or clinics:
            _bulk(settings, physicians, clinics, random_seed, roster)


def _bulk(settings: Settings, physicians: int, clinics: int, seed: int, roster: str) -> None:
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from app.bulk_seed import Progress as Hooks
    from app.bulk_seed import bulk_seed

    if roster not in ("weighted", "uniform", "texas-fixed"):
        console.print("[red]--roster must be weighted, uniform or texas-fixed[/red]")
        raise typer.Exit(2)
    started = time.perf_counter()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:

        def start(label: str, total: int) -> Callable[[int], None]:
            task = bar.add_task(label, total=total)
            return lambda n: bar.advance(task, n)

        bulk_seed(
            settings.libpq_url,
            physicians=physicians,
            clinics=clinics,
            seed=seed,
            roster=roster,
            progress=Hooks(start),
        )
    console.print(
        f"Added {physicians:,} physicians and {clinics:,} clinics in "
        f"{time.perf_counter() - started:.1f} s (accounts cannot log in: no password)."
    )


async def _seed_demo(settings: Settings, *, with_ops: bool) -> tuple[int, bool]:
    """The demo roster, and (local mode only: its password is published) the demo ops account."""
    from app.db import create_engine, create_sessionmaker
    from app.physicians.demo import seed_demo_ops, seed_demo_supply

    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            added = await seed_demo_supply(session, settings)
            ops_created = with_ops and await seed_demo_ops(session, settings)
            await session.commit()
            return added, ops_created
    finally:
        await engine.dispose()


@cli.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Jobs run at once")] = 4,
) -> None:
    """Run a job worker (offers, cascades, webhooks, expiry sweeps) until interrupted."""
    with contextlib.ExitStack() as stack, database(stack) as settings:
        _configure_logging(settings)
        asyncio.run(_run_worker(settings, concurrency))


async def _run_worker(settings: Settings, concurrency: int) -> None:
    from app.billing.stripe_gateway import StripeGateway
    from app.db import create_engine, create_sessionmaker
    from app.jobs.queue import build_connector, queue, worker_options
    from app.jobs.runtime import JobRuntime, configure_runtime
    from app.kit.mailer import build_email_sender

    engine = create_engine(settings)
    gateway = StripeGateway.from_settings(settings)
    configure_runtime(
        JobRuntime(
            settings=settings,
            sessionmaker=create_sessionmaker(engine),
            email_sender=build_email_sender(settings),
            stripe=gateway,
        )
    )
    try:
        with queue.replace_connector(build_connector(settings)):
            async with queue.open_async():
                await queue.run_worker_async(**worker_options(settings, concurrency=concurrency))
    finally:
        if gateway is not None:
            await gateway.aclose()
        await engine.dispose()


def _read_password(email: str) -> str:
    if sys.stdin.isatty():
        return str(typer.prompt(f"Password for {email}", hide_input=True, confirmation_prompt=True))
    return sys.stdin.readline().rstrip("\n")


@cli.command("create-ops-user")
def create_ops_user(email: str) -> None:
    """Create an operations account (password prompted, or read from stdin when piped)."""
    password = _read_password(email)
    with contextlib.ExitStack() as stack, database(stack) as settings:
        _migrate(settings)
        try:
            user_id = asyncio.run(_create_ops_user(settings, email, password))
        except Exception as exc:
            from app.errors import AppError

            if not isinstance(exc, AppError):
                raise
            errors = exc.extensions.get("errors")
            reasons = "; ".join(e["msg"] for e in errors) if errors else exc.detail
            console.print(f"[red]Not created: {reasons}[/red]")
            raise typer.Exit(1) from None
    console.print(f"Created ops_admin {email} ({user_id}).")


async def _create_ops_user(settings: Settings, email: str, password: str) -> str:
    from app.auth.models import Role
    from app.auth.service import create_user
    from app.db import create_engine, create_sessionmaker

    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            user = await create_user(
                session, settings, email=email, password=password, role=Role.ops_admin
            )
            await session.commit()
            return str(user.id)
    finally:
        await engine.dispose()


pricing_cli = typer.Typer(help="Price books.", no_args_is_help=True)
cli.add_typer(pricing_cli, name="pricing")


@pricing_cli.command("publish")
def pricing_publish(path: Path) -> None:
    """Publish the price book in FILE (JSON) as the current one; versions never change."""
    import json

    from pydantic import ValidationError

    from app.pricing.price_book import PriceBook

    try:
        book = PriceBook.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError, ValidationError) as exc:
        console.print(f"[red]Not published: {exc}[/red]")
        raise typer.Exit(1) from None
    with contextlib.ExitStack() as stack, database(stack) as settings:
        _migrate(settings)
        try:
            asyncio.run(_publish(settings, book))
        except Exception as exc:
            from app.errors import AppError

            if not isinstance(exc, AppError):
                raise
            console.print(f"[red]Not published: {exc.detail}[/red]")
            raise typer.Exit(1) from None
    console.print(f"Published price book {book.version}; new quotes use it.")


async def _publish(settings: Settings, book: object) -> None:
    from app.db import create_engine, create_sessionmaker
    from app.pricing.price_book import PriceBook
    from app.pricing.service import publish_price_book

    assert isinstance(book, PriceBook)
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            await publish_price_book(session, book, actor_id=None)
            await session.commit()
    finally:
        await engine.dispose()


rules_cli = typer.Typer(help="State rules: the cited research dataset.", no_args_is_help=True)
cli.add_typer(rules_cli, name="rules")


def _read_dataset(path: Path | None) -> object:
    """The dataset in FILE (default: the packaged one), validated; exit 1 naming the error."""
    from pydantic import ValidationError

    from app.catalog import dataset, rules

    if path is None:
        return rules.dataset()
    try:
        return dataset.load(path)
    except (OSError, ValueError, ValidationError) as exc:
        console.print(f"[red]{path} is not a valid state-rules file:[/red]\n{exc}")
        raise typer.Exit(1) from None


@rules_cli.command("report")
def rules_report(
    path: Annotated[
        Path | None, typer.Argument(help="A data file (default: the packaged one)")
    ] = None,
) -> None:
    """Print the counts per field and confidence, and the coverage targets."""
    from app.catalog import coverage, dataset

    data = _read_dataset(path)
    assert isinstance(data, dataset.Dataset)
    for line in coverage.render_text(data):
        print(line)


@rules_cli.command("docs")
def rules_docs(
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if the file is stale")] = False,
) -> None:
    """Write docs/state-rules.md and the data file's JSON Schema from the packaged data."""
    from app.catalog import coverage, dataset, rules
    from app.migrate import project_root

    root = project_root()
    outputs = {
        root / "docs" / "state-rules.md": coverage.render_markdown(rules.dataset()),
        root / "app" / "catalog" / "data" / "state_rules.schema.json": dataset.json_schema(),
    }
    for target, text in outputs.items():
        if check:
            if not target.exists() or target.read_text() != text:
                console.print(f"[red]{target} is stale: run `mdmatch rules docs`.[/red]")
                raise typer.Exit(1)
            continue
        target.write_text(text)
        console.print(f"Wrote {target}")


@rules_cli.command("diff")
def rules_diff(path: Path) -> None:
    """Show what loading FILE would change in the rules in force (writes nothing)."""
    _rules_against_database(path, apply=False)


@rules_cli.command("load")
def rules_load(path: Path) -> None:
    """Load FILE: every field operations did not edit takes the file's cited fact."""
    version = _rules_against_database(path, apply=True)
    print(f"Loaded state rules {version}.")


def _rules_against_database(path: Path, *, apply: bool) -> str:
    """Plan FILE against the database (and apply it with `apply`); print the plan."""
    from app.catalog import dataset

    data = _read_dataset(path)
    assert isinstance(data, dataset.Dataset)
    with contextlib.ExitStack() as stack, database(stack) as settings:
        _migrate(settings)
        plans = asyncio.run(_rules_plan(settings, data, apply=apply))
    for line in _plan_lines(data, plans):
        print(line)
    return data.version


async def _rules_plan(settings: Settings, data: object, *, apply: bool) -> list[object]:
    from app.catalog import service
    from app.catalog.dataset import Dataset
    from app.db import create_engine, create_sessionmaker

    assert isinstance(data, Dataset)
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            plans = await service.plan_state_rules(session, data)
            if apply:
                await service.load_state_rules(session, data)
                await session.commit()
            return list(plans)
    finally:
        await engine.dispose()


def _plan_lines(data: object, plans: list[object]) -> list[str]:
    from app.catalog.ruleset import StatePlan, show

    out: list[str] = []
    changed = kept = 0
    for p in plans:
        assert isinstance(p, StatePlan)
        if p.skipped_newer:
            out.append(f"{p.code}: skipped (the database holds a newer data version)")
            continue
        if p.is_new:
            out.append(f"{p.code}: new jurisdiction ({len(p.changes)} fields)")
            changed += len(p.changes)
            continue
        for c in p.applied:
            before = c.before or {}
            after = c.after or {}
            out.append(
                f"{p.code} {c.field}: {show(before.get('value'))} [{before.get('confidence')}]"
                f" -> {show(after.get('value'))} [{after.get('confidence')}]"
                f"  {after.get('citation') or ''}"
            )
            changed += 1
        for c in p.kept:
            refused = c.refused or {}
            out.append(
                f"{p.code} {c.field}: KEPT operations' {show((c.after or {}).get('value'))};"
                f" the file says {show(refused.get('value'))} [{refused.get('confidence')}]"
            )
            kept += 1
    version = getattr(data, "version", "?")
    out.append(
        f"{changed} field(s) would change, {kept} kept as operations edited them"
        f" (data version {version})."
    )
    return out


billing_cli = typer.Typer(help="Billing (Stripe).", no_args_is_help=True)
cli.add_typer(billing_cli, name="billing")


@billing_cli.command("reconcile")
def billing_reconcile() -> None:
    """Compare every open engagement with its Stripe subscription and repair drift."""
    with contextlib.ExitStack() as stack, database(stack) as settings:
        _configure_logging(settings)
        if settings.stripe_secret_key is None:
            console.print("[red]STRIPE_SECRET_KEY is not set.[/red]")
            raise typer.Exit(2)
        result = asyncio.run(_reconcile(settings))
    console.print(
        f"Checked {result['checked']} engagements: {result['repaired']} repaired, "
        f"{result['unreachable']} not reachable at Stripe, {result['failed']} failed."
    )
    if result["unreachable"] or result["failed"]:
        raise typer.Exit(1)


async def _reconcile(settings: Settings) -> dict[str, int]:
    from app.billing.jobs import reconcile_all
    from app.billing.stripe_gateway import StripeGateway
    from app.db import create_engine, create_sessionmaker
    from app.jobs.runtime import JobRuntime, configure_runtime
    from app.kit.mailer import build_email_sender

    engine = create_engine(settings)
    gateway = StripeGateway.from_settings(settings)
    configure_runtime(
        JobRuntime(
            settings=settings,
            sessionmaker=create_sessionmaker(engine),
            email_sender=build_email_sender(settings),
            stripe=gateway,
        )
    )
    try:
        return await reconcile_all()
    finally:
        if gateway is not None:
            await gateway.aclose()
        await engine.dispose()


def _use_local_jwt_secret() -> None:
    """Local mode never signs with the public placeholder: it uses a random secret kept under
    var/ (LOCAL_JWT_SECRET_FILE names another file), unless JWT_SECRET is set."""
    from pydantic import ValidationError

    from app.config import LOCAL_JWT_SECRET

    try:
        settings = get_settings()
    except ValidationError:
        return  # not usable settings: the command itself reports what is wrong with them
    if settings.environment is not Environment.local:
        return
    if settings.jwt_secret.get_secret_value() != LOCAL_JWT_SECRET:
        return
    from app.devtools.local_secrets import local_jwt_secret

    path = Path(os.environ.get("LOCAL_JWT_SECRET_FILE") or var_dir() / "jwt-secret")
    os.environ["JWT_SECRET"] = local_jwt_secret(path)
    _reload_settings()


def _local_only(command: str) -> Settings:
    from pydantic import ValidationError

    try:
        settings = get_settings()
    except ValidationError as exc:
        # Production settings refuse to load without their secrets; either way, not local.
        console.print(f"[red]`mdmatch {command}` works in local mode only: {exc}[/red]")
        raise typer.Exit(2) from None
    if settings.environment is not Environment.local:
        console.print(
            f"[red]`mdmatch {command}` works in local mode only "
            f"(ENVIRONMENT is {settings.environment}).[/red]"
        )
        raise typer.Exit(2)
    return settings


def _emulator_url(settings: Settings, command: str) -> str:
    """The Stripe emulator `mdmatch serve` starts (or the one STRIPE_API_BASE names); real
    Stripe is refused before anything is sent."""
    from app.config import StripeBackend

    if settings.stripe_backend is StripeBackend.localstripe and settings.stripe_api_base:
        return settings.stripe_api_base
    if settings.stripe_secret_key is not None:
        console.print(
            f"[red]STRIPE_SECRET_KEY is set without STRIPE_BACKEND=localstripe: `mdmatch "
            f"{command}` only pays on the local Stripe emulator, never on Stripe.[/red]"
        )
        raise typer.Exit(2)
    return f"http://127.0.0.1:{settings.stripe_emulator_port}"


@cli.command()
def pay(
    engagement_id: Annotated[uuid.UUID, typer.Argument(help="The engagement to pay for")],
    card: Annotated[
        TestCard,
        typer.Option(
            help="success: 4242 4242 4242 4242, payments succeed. declined: 4000 0000 0000 "
            "0341, saved fine but every payment is declined (subscribe answers "
            "payment_status failed). 3ds: 4000 0025 0000 3155, needs 3-D Secure when saved "
            "and, in the emulator, on every payment; `mdmatch pay` passes the challenge."
        ),
    ] = TestCard.success,
) -> None:
    """Local mode only: the clinic's browser part of paying (Stripe.js), on the Stripe emulator
    with a test card. Run it after the clinic admin's POST /v1/engagements/{id}/payment-method:
    it confirms that card request. Then the admin calls POST /v1/engagements/{id}/subscribe;
    when that answers payment_status requires_action (3-D Secure), run it again to pass the
    challenge, and subscribe again."""
    from app.devtools.stripe_js import NothingToPay, NotTheEmulator, Paid, emulator_client
    from app.devtools.stripe_js import pay as browser_pay

    settings = _local_only("pay")
    base = _emulator_url(settings, "pay")

    async def run() -> Paid:
        async with emulator_client(base) as http:
            return await browser_pay(http, str(engagement_id), card)

    try:
        paid = asyncio.run(run())
    except NotTheEmulator as exc:
        console.print(
            f"[red]{exc}.[/red] `mdmatch pay` talks to the Stripe emulator `mdmatch serve` "
            "starts (STRIPE_EMULATOR_PORT, default 8420, or STRIPE_API_BASE with "
            "STRIPE_BACKEND=localstripe)."
        )
        raise typer.Exit(2) from None
    except NothingToPay as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"[green]{paid.done}[/green] (status {paid.status}).")
    console.print(f"Next, as the clinic admin: {paid.next_step}", soft_wrap=True)


@cli.command()
def demo(
    base_url: Annotated[str, typer.Option(help="The running local server")] = (
        "http://127.0.0.1:8000"
    ),
    card: Annotated[
        TestCard, typer.Option(help="The test card the clinic pays with (see `mdmatch pay`)")
    ] = TestCard.success,
) -> None:
    """Local mode only: a guided tour of the whole journey against the running server, over its
    HTTP API: a physician verified, a clinic's quote and intake, an offer accepted by a demo
    physician, confirmation, payment (with `mdmatch pay`'s test cards), the invoice, a scope
    change and a cancellation. Exits non-zero at the first unexpected answer."""
    import httpx

    from app.devtools.stripe_js import emulator_client
    from app.devtools.tour import Tour, TourFailed

    settings = _local_only("demo")
    stripe_url = _emulator_url(settings, "demo")
    out = Console(highlight=False)

    async def run() -> None:
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=30) as http,
            emulator_client(stripe_url) as stripe,
        ):
            await Tour(http, stripe, out, card).run()

    try:
        asyncio.run(run())
    except TourFailed as exc:
        out.print(f"[bold red]Tour stopped:[/bold red] {exc}", soft_wrap=True)
        raise typer.Exit(1) from None


nppes_cli = typer.Typer(help="The local NPPES stand-in (local mode).", no_args_is_help=True)
cli.add_typer(nppes_cli, name="nppes")


@nppes_cli.command("add")
def nppes_add(
    npi: Annotated[str, typer.Argument(help="10-digit NPI with a valid check digit")],
    first_name: Annotated[str, typer.Option(help="As on the physician's profile")],
    last_name: Annotated[str, typer.Option(help="As on the physician's profile")],
) -> None:
    """Have the local NPPES stand-in answer NPI with this physician (an individual MD), so
    verifying a profile with that name passes. Kept in var/nppes-standin.json; a running
    `mdmatch serve` sees it at its next lookup."""
    from app.devtools.nppes import register_provider

    settings = _local_only("nppes add")
    if "nppes_base_url" in settings.model_fields_set:
        console.print(
            "[red]NPPES_BASE_URL is set: the server then asks that registry, not the local "
            "stand-in; unset it to use the stand-in.[/red]"
        )
        raise typer.Exit(2)
    try:
        register_provider(nppes_registrations(), npi, first_name, last_name)
    except ValueError as exc:
        console.print(f"[red]Not registered: {exc}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"The local NPPES stand-in now answers NPI {npi} with Dr. {first_name} {last_name} "
        "(an individual M.D., Dermatology)."
    )


credentials_cli = typer.Typer(
    help="Credentials: the federal exclusion list (HHS-OIG LEIE).", no_args_is_help=True
)
cli.add_typer(credentials_cli, name="credentials")


@credentials_cli.command("import-leie")
def credentials_import_leie(
    source: Annotated[
        str,
        typer.Argument(
            help="The LEIE UPDATED.csv: a file, or an http(s) URL "
            "(e.g. https://oig.hhs.gov/exclusions/downloadables/UPDATED.csv)"
        ),
    ],
) -> None:
    """Import the HHS-OIG exclusion list (replacing the previous file) and screen every
    physician against it; the same file again changes nothing."""
    import time

    with contextlib.ExitStack() as stack, database(stack) as settings:
        _migrate(settings)
        started = time.perf_counter()
        try:
            result = asyncio.run(_import_leie(settings, source))
        except (OSError, ValueError, RuntimeError) as exc:
            console.print(f"[red]Not imported: {exc}[/red]")
            raise typer.Exit(1) from None
    if result.unchanged:
        console.print(
            f"Unchanged: {source} is the list already imported (sha256 {result.sha256[:12]}, "
            f"{result.row_count} rows)."
        )
        return
    console.print(
        f"Imported {result.row_count} rows from {source} (sha256 {result.sha256[:12]}) in "
        f"{time.perf_counter() - started:.1f} s; {result.matches_found} physicians matched."
    )


async def _import_leie(settings: Settings, source: str) -> ImportResult:
    from app.credentials.exclusions import download_leie, import_leie
    from app.db import create_engine, create_sessionmaker

    if source.startswith(("http://", "https://")):
        data = await download_leie(source, settings)
    else:
        data = await asyncio.to_thread(Path(source).read_bytes)
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            result = await import_leie(session, data, file_name=source, settings=settings)
            await session.commit()
            return result
    finally:
        await engine.dispose()


def main() -> None:
    _use_local_jwt_secret()
    cli()


if __name__ == "__main__":
    main()
