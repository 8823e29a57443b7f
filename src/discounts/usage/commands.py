"""``discounts usage rebuild|verify``: the thin command layer over ``usage/ledger.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.clock import utcnow
from discounts.db import make_engine, make_sessionmaker
from discounts.models import load_all
from discounts.settings import get_settings
from discounts.usage.ledger import (
    RebuildReport,
    VerifyReport,
    copy_all,
    count_ledger,
    live_codes,
    rebuild_store,
    verify_store,
)
from discounts.usage.store import UsageStore, open_usage_store

T = TypeVar("T")

usage_app = typer.Typer(help="The usage store and its durable ledger.", no_args_is_help=True)

Batch = Annotated[int, typer.Option(min=1, help="Usages per database read and store round trip")]


def _run(work: Callable[[UsageStore, async_sessionmaker[AsyncSession], int], Awaitable[T]]) -> T:
    """Run ``work`` with the configured store and database, and the number of ledger rows it will see."""

    async def main() -> T:
        load_all()  # the ledger's foreign keys name tables of other domains
        settings = get_settings()
        engine = make_engine(settings.resolved_database_url)
        store = open_usage_store(settings.resolved_usage_store_url, settings)
        try:
            sessions = make_sessionmaker(engine)
            codes = await live_codes(sessions, now=utcnow(), grace=_grace())
            return await work(store, sessions, await count_ledger(sessions, codes))
        finally:
            await store.close()
            await engine.dispose()

    return asyncio.run(main())


def _grace() -> timedelta:
    return timedelta(seconds=get_settings().usage_grace_seconds)


@usage_app.command()
def rebuild(batch: Batch = 5000) -> None:
    """Restore the usage store from the ledger after it lost data (codes past validity + grace are skipped)."""

    async def work(store: UsageStore, sessions: async_sessionmaker[AsyncSession], total: int) -> RebuildReport:
        with typer.progressbar(length=total, label="restoring") as bar:
            return await rebuild_store(
                store, sessions, now=utcnow(), grace=_grace(), batch_size=batch, progress=bar.update
            )

    report = _run(work)
    typer.echo(f"{report.restored} usages restored, {report.present} were there already ({report.codes} live codes)")


@usage_app.command()
def verify(
    batch: Batch = 5000,
    copy: Annotated[bool, typer.Option(help="Copy the stream to the ledger first, as the periodic task does")] = True,
    show: Annotated[int, typer.Option(min=0, help="How many differences to list")] = 20,
) -> None:
    """Compare the store with the ledger both ways; exits with 1 when they differ."""

    async def work(store: UsageStore, sessions: async_sessionmaker[AsyncSession], total: int) -> VerifyReport:
        if copy:
            copied = await copy_all(store, sessions, batch)
            typer.echo(f"copied {copied} new usages from the stream to the ledger")
        with typer.progressbar(length=total, label="verifying") as bar:
            return await verify_store(
                store, sessions, now=utcnow(), grace=_grace(), batch_size=batch, sample=show, progress=bar.update
            )

    report = _run(work)
    typer.echo(f"checked {report.checked} ledger usages of {report.codes} live codes")
    if report.missing_in_store:
        typer.echo(f"{report.missing_in_store} usages are in the ledger but not in the store, e.g.:")
        for code, user in report.missing_sample:
            typer.echo(f"  missing in store: code {code} user {user}")
    if report.count_mismatches:
        typer.echo(f"{len(report.count_mismatches)} codes have a different number of usages in the two:")
    for mismatch in report.count_mismatches[:show]:
        typer.echo(f"  count differs: code {mismatch.code}: ledger {mismatch.ledger}, store {mismatch.store}")
    if not report.consistent:
        typer.echo("the store and the ledger differ; `discounts usage rebuild` restores what the store lacks", err=True)
        raise typer.Exit(1)
    typer.echo("the store and the ledger agree")
