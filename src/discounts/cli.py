"""The ``discounts`` command: run the service, migrate, mint tokens, manage the directory."""

from __future__ import annotations

import asyncio
import csv
import ctypes
import ctypes.util
import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from discounts import logs
from discounts.auth import Role, mint_token
from discounts.clock import utcnow
from discounts.codes.commands import codes_app
from discounts.dashboard.commands import dashboard_link
from discounts.directory.schemas import BulkUserIn
from discounts.settings import Settings, get_settings
from discounts.usage.commands import usage_app

T = TypeVar("T")
log = logging.getLogger("discounts.serve")
worker_log = logging.getLogger("discounts.worker")

app = typer.Typer(help="Discount codes for online marketplaces.", no_args_is_help=True)
brands_app = typer.Typer(help="Brands in the directory.", no_args_is_help=True)
users_app = typer.Typer(help="Users in the directory.", no_args_is_help=True)
app.add_typer(brands_app, name="brands")
app.add_typer(users_app, name="users")
app.add_typer(usage_app, name="usage")
app.add_typer(codes_app, name="codes")
app.command("dashboard-link")(dashboard_link)


@app.callback()
def _configure_logging() -> None:
    # Every command logs like the service does (DISCOUNTS_LOG_LEVEL, DISCOUNTS_LOG_FORMAT).
    logs.configure_logging(get_settings())


@app.command()
def migrate() -> None:
    """Bring the database to the latest schema (also done by ``serve``)."""
    from discounts.migrate import upgrade_sync

    settings = get_settings()
    settings.ensure_data_dir()
    upgrade_sync(settings.resolved_database_url)
    typer.echo("database is up to date")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="API processes")] = 1,
    background: Annotated[
        bool, typer.Option(help="Also run the background worker (default on the embedded broker)")
    ] = True,
) -> None:
    """Run the whole service: migrations, the API and (by default) its background worker."""
    import uvicorn

    from discounts.migrate import upgrade_sync

    public_url_follows = "public_url" not in get_settings().model_fields_set
    if public_url_follows:
        # The links in e-mails lead to where we listen; API processes and the worker inherit it.
        os.environ["DISCOUNTS_PUBLIC_URL"] = public_url_for(host, port)
        get_settings.cache_clear()
    settings = get_settings()
    logs.configure_logging(settings)
    settings.ensure_data_dir()
    upgrade_sync(settings.resolved_database_url)
    settings.hs256_secret()  # create the key once, before several processes race for it
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # API processes and the background worker count into shared files, so /metrics
        # shows them all (e-mails sent, usages copied) however many processes there are.
        for stale in _share_metrics(settings).glob("*.db"):
            stale.unlink()
    log_summary(
        settings, listen=listen_url(host, port), workers=workers, background=background, derived=public_url_follows
    )
    supervisor = WorkerSupervisor([sys.executable, "-m", "discounts", "worker", "--beat"]) if background else None
    if supervisor:
        supervisor.start()
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "loop": "uvloop",
        "http": "httptools",
        # Our logging in every API process (uvicorn applies the config again in each one it
        # spawns); our middleware writes the access line, so uvicorn's own is off.
        "log_config": logs.logging_config(settings),
        "log_level": None,
        "access_log": False,
        # No "server: uvicorn" on every answer: it tells a scanner what to try, and costs a header.
        "server_header": False,
    }
    try:
        if workers == 1:
            uvicorn.run(API_APP, **options)  # exits non-zero itself when the API fails to start
            status = 0
        else:
            status = run_api_processes(uvicorn.Config(API_APP, **options))
    finally:
        if supervisor:
            supervisor.stop()
    if status:
        log.error("the API did not start; exiting with status %d", status)
        raise typer.Exit(status)


API_APP = "discounts.api.app:create_app"


def run_api_processes(config: Any) -> int:
    """Run ``config.workers`` API processes until stopped; the exit status says whether they started.

    ``uvicorn.run`` does the same, but when a process fails to start (a refused setting) it
    stops the others and returns as after a clean stop: ``serve`` exited 0, and systemd or
    Kubernetes took the failure for a stop it need not report or restart (uvicorn 0.54).
    """
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    processes = Multiprocess(config, sockets=[config.bind_socket()])
    processes.run()
    return STARTUP_FAILURE if any(process.exitcode == STARTUP_FAILURE for process in processes.processes) else 0


def listen_url(host: str, port: int) -> str:
    return f"http://{_url_host(host)}:{port}"


#: Addresses that mean "every interface": no one can follow a link to them.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def public_url_for(host: str, port: int) -> str:
    """Where a link in an e-mail should lead when DISCOUNTS_PUBLIC_URL is unset.

    The listen address itself, or on every interface the machine's host name: the one
    name others might reach it by (127.0.0.1 would be right for no one but this machine).
    """
    return f"http://{_url_host(socket.gethostname() if host in WILDCARD_HOSTS else host)}:{port}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def log_summary(settings: Settings, *, listen: str, workers: int, background: bool, derived: bool) -> None:
    """What an operator checks first, one line each (one JSON object each, with the value as a field).

    ``derived``: the public URL was not configured but follows the listen address.
    """
    from importlib.metadata import version

    processes = f"{workers} API process{'es' if workers > 1 else ''}"
    worker = "with its background worker" if background else "without a background worker (--no-background)"
    log.info("discounts %s on %s: %s, %s", version("discounts"), listen, processes, worker, extra={"listen": listen})
    broker = logs.redact_url(settings.broker_url) if settings.broker_url else "embedded, in the data directory"
    mail = logs.redact_url(settings.smtp_url) if settings.smtp_url else f"Maildir {settings.maildir}"
    rows = [
        ("public_url", "public URL", settings.public_url),
        ("database", "database", logs.redact_url(settings.resolved_database_url)),
        ("usage_store", "usage store", logs.redact_url(settings.resolved_usage_store_url)),
        ("broker", "broker", broker),
        ("mail", "mail", mail),
        ("data_dir", "data dir", str(settings.data_dir.resolve())),
        ("docs", "API docs", settings.public_url.rstrip("/") + "/docs"),
        ("logs", "logs", _describe_logs(settings)),
    ]
    notes = {"public_url": " (the listen address; DISCOUNTS_PUBLIC_URL sets another)"} if derived else {}
    for key, label, value in rows:
        log.info("  %-12s %s%s", label, value, notes.get(key, ""), extra={key: value})


def _describe_logs(settings: Settings) -> str:
    access = "one line per request" if settings.access_log else "no access lines"
    return f"level {settings.log_level}, {settings.log_format}, {access}"


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM the worker when ``serve`` goes away, however it goes.

    uvicorn re-raises SIGTERM after its graceful shutdown, which ends ``serve`` before any
    ``finally`` runs; without this the worker would be left running, orphaned.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


PR_SET_PDEATHSIG = 1


class WorkerSupervisor:
    """Keeps the background worker running beside the API; restarts it if it dies."""

    def __init__(self, argv: list[str]) -> None:
        self._argv = argv
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            # A session of its own: a terminal's Ctrl+C or a signal to serve's process group reaches
            # serve alone, which stops the worker once, gently. Reaching the worker's pool processes
            # too, it killed them holding the pool's queue lock, and the worker hung at exit for ever.
            self._proc = subprocess.Popen(self._argv, preexec_fn=_die_with_parent, start_new_session=True)
            code = self._proc.wait()
            if not self._stopping.is_set():
                log.warning("background worker exited (%s); restarting", code)
                self._stopping.wait(1)

    def stop(self) -> None:
        self._stopping.set()
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()


def _share_metrics(settings: Settings) -> Path:
    """Count into ``<data dir>/metrics`` unless told elsewhere: processes of one host add up there.

    Must run before ``discounts.metrics`` is imported (it picks its storage at import).
    """
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        settings.ensure_data_dir()
        metrics_dir = settings.data_dir.resolve() / "metrics"
        metrics_dir.mkdir(exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    return Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


@app.command()
def worker(
    beat: Annotated[bool, typer.Option(help="Also run the periodic scheduler (one per deployment)")] = False,
    concurrency: Annotated[int, typer.Option(min=1, help="Worker processes")] = 2,
    queues: Annotated[str | None, typer.Option(help="Comma-separated queues to consume")] = None,
    deliver: Annotated[
        bool, typer.Option(help="Also run the webhook deliverer (`discounts deliver`) in a process beside it")
    ] = True,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve the metrics of this worker, its pool and its deliverer for Prometheus on this port"),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Interface for --metrics-port")] = "127.0.0.1",
) -> None:
    """Run a Celery worker (fan-outs, digests, batches, the ledger copy, events) and the webhook deliverer.

    Its counters (usages copied, e-mails, webhook attempts, lag and backlog) go to the same
    files as ``serve``'s on this host, so an API's ``/metrics`` shows them; a worker on a host
    of its own shows them on ``--metrics-port``.
    """
    settings = get_settings()
    logs.configure_logging(settings, worker=True)
    _share_metrics(settings)
    from discounts.jobs.tasks import celery_app

    if metrics_port is not None:
        from discounts.metrics import serve_metrics

        serve_metrics(metrics_port, metrics_host)

    if deliver:
        # Started before Celery forks its pool; in this process group, and it dies with this process.
        subprocess.Popen([sys.executable, "-m", "discounts", "deliver"], preexec_fn=_die_with_parent)

    # A node name of its own: two workers on one host must not share a remote-control queue.
    node = f"discounts-{os.getpid()}@{socket.gethostname()}"
    argv = ["worker", f"--concurrency={concurrency}", f"--loglevel={settings.log_level.upper()}", f"--hostname={node}"]
    if settings.log_level != "debug":
        argv.insert(0, "--quiet")  # Celery's banner; the line below says what matters
    if beat:
        settings.ensure_data_dir()
        argv += ["--beat", f"--schedule={settings.data_dir.resolve() / 'celerybeat-schedule'}"]
    if queues:
        argv.append(f"--queues={queues}")
    broker = logs.redact_url(settings.broker_url) if settings.broker_url else "embedded"
    worker_log.info(
        "worker %s: %d processes%s, queues %s, broker %s",
        node,
        concurrency,
        " and the periodic jobs" if beat else "",
        queues or "all",
        broker,
    )
    celery_app.worker_main(argv)


@app.command()
def deliver() -> None:
    """Run the webhook deliverer: sends what is due to every endpoint, retries on schedule, until stopped."""
    settings = get_settings()
    logs.configure_logging(settings, worker=True)
    _share_metrics(settings)
    import uvloop

    from discounts.webhooks.process import run_deliverer

    worker_log.info("webhook deliverer %d: polling every %g s", os.getpid(), settings.webhook_poll_seconds)
    uvloop.run(run_deliverer(settings))


@app.command()
def token(
    role: Annotated[Role, typer.Option(help="user, brand or service")],
    sub: Annotated[str | None, typer.Option(help="The principal's id (defaults to --brand for brands)")] = None,
    brand: Annotated[str | None, typer.Option(help="The brand a brand token acts for")] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds")] = 24 * 3600,
) -> None:
    """Print a token signed with the configured key (for local use and testing)."""
    if role is Role.brand and not brand:
        raise typer.BadParameter("a brand token needs --brand", param_hint="--brand")
    subject = sub or brand
    if not subject:
        raise typer.BadParameter("give --sub", param_hint="--sub")
    settings = get_settings()
    typer.echo(mint_token(settings, role=role, sub=subject, brand=brand, ttl=timedelta(seconds=ttl), now=utcnow()))


async def _with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one unit of work against the configured database."""
    from discounts.db import make_engine, make_sessionmaker, unit_of_work

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as uow:
            return await work(uow.session)
    finally:
        await engine.dispose()


@brands_app.command("add")
def brands_add(
    brand_id: Annotated[str, typer.Argument(help="The brand's id, e.g. acme")],
    name: Annotated[str, typer.Option(help="Display name")],
    email: Annotated[str, typer.Option(help="Where usage reports go")],
) -> None:
    """Register (or update) a brand."""
    import re

    from pydantic import ValidationError

    from discounts.directory.schemas import BrandIn
    from discounts.directory.service import put_brand
    from discounts.fields import ID_PATTERN

    if not re.fullmatch(ID_PATTERN, brand_id):
        raise typer.BadParameter("letters, digits, '.', '_', ':', '@', '-'; up to 64", param_hint="BRAND_ID")
    try:
        data = BrandIn(name=name, email=email)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None
    _, created = asyncio.run(_with_session(lambda s: put_brand(s, brand_id, data, utcnow())))
    typer.echo(f"brand {brand_id} {'created' if created else 'updated'}")


@users_app.command("import")
def users_import(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with columns id,email[,group]")],
    batch: Annotated[int, typer.Option(min=1, help="Users per transaction")] = 5000,
) -> None:
    """Create or update users from a CSV file (header: id,email,group)."""
    from pydantic import ValidationError

    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    users = []
    for line, row in enumerate(rows, start=2):
        try:
            users.append(BulkUserIn(id=row.get("id", ""), email=row.get("email", ""), group=row.get("group") or None))
        except ValidationError as exc:
            typer.echo(f"{path}:{line}: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}", err=True)
            raise typer.Exit(1) from None
    created = updated = 0
    with typer.progressbar(length=len(users), label="importing") as progress:
        for start in range(0, len(users), batch):
            part = users[start : start + batch]
            c, u = asyncio.run(_with_session(functools.partial(_import_part, part)))
            created, updated = created + c, updated + u
            progress.update(len(part))
    typer.echo(f"{created} created, {updated} updated")


async def _import_part(part: list[BulkUserIn], session: AsyncSession) -> tuple[int, int]:
    from discounts.directory.service import put_users

    return await put_users(session, part, utcnow())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
