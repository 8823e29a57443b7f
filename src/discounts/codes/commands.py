"""``discounts codes export|import``: a batch's codes out as CSV, a brand's existing codes in.

The batch modules are imported inside the commands: they import ``discounts.metrics``, which
must not be imported before ``discounts serve`` has set ``PROMETHEUS_MULTIPROC_DIR`` (its API
process would count in memory only, and /metrics would show none of its counters).
"""

from __future__ import annotations

import asyncio
import csv
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.auth import Principal, Role
from discounts.clock import utcnow
from discounts.codes.schemas import MAX_BATCH
from discounts.db import make_engine, make_sessionmaker, unit_of_work
from discounts.errors import DiscountsError
from discounts.fields import UTCTime, code_hash, normalize_code
from discounts.models import load_all
from discounts.settings import get_settings

T = TypeVar("T")

codes_app = typer.Typer(help="Batches of single-use codes.", no_args_is_help=True)

#: Columns an import file may have: the export's own, so a batch moves between deployments as it is.
IMPORT_COLUMNS = {"code", "hash"}


def _run(work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    """Run ``work`` against the configured database; a refusal is a message on stderr and exit status 1."""

    async def main() -> T:
        load_all()  # a batch's foreign keys name the directory's tables
        engine = make_engine(get_settings().resolved_database_url)
        try:
            return await work(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except DiscountsError as exc:
        for line in _problems(exc):
            typer.echo(line, err=True)
        raise typer.Exit(1) from None


def _problems(exc: DiscountsError) -> list[str]:
    """One line per refused field or line of the file, else the refusal itself."""
    listed = [f"{'.'.join(map(str, error['loc'][1:]))}: {error['msg']}" for error in exc.errors or []]
    return listed or [f"error: {exc.detail}"]


@codes_app.command("export")
def export(batch_id: Annotated[str, typer.Argument(help="The batch's id")]) -> None:
    """Write a batch's codes to stdout as CSV (code,hash), with a progress bar on stderr."""
    from discounts.codes.batches import CSV_HEADER, batch_codes, csv_page, load_batch, require_done

    async def work(sessions: async_sessionmaker[AsyncSession]) -> int:
        async with sessions() as session:
            batch = await load_batch(session, batch_id)
        require_done(batch)
        out = sys.stdout.buffer
        out.write(CSV_HEADER.encode())
        with typer.progressbar(length=batch.count, label="exporting", file=sys.stderr) as bar:
            async for rows in batch_codes(sessions, batch.id):
                out.write(csv_page(rows).encode())
                bar.update(len(rows))
        out.flush()
        return batch.count

    try:
        count = _run(work)
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        sys.stderr.close()
        raise typer.Exit(0) from None
    typer.echo(f"{count:,} codes", err=True)


@codes_app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV with a 'code' column")],
    brand: Annotated[str, typer.Option(help="The brand whose codes these are")],
    rule: Annotated[int, typer.Option(min=1, help="The id of the brand's rule the codes follow")],
    validity: Annotated[str, typer.Option(help="Last moment the codes can be used, e.g. 2027-12-31T23:59:59Z")],
) -> None:
    """Import a brand's existing codes as a batch: all of them, or none (each refused line is listed)."""
    from discounts.codes.imports import import_codes

    try:
        until: datetime = TypeAdapter(UTCTime).validate_python(validity)
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"], param_hint="--validity") from None
    codes, lines = _read_codes(path)

    async def work(sessions: async_sessionmaker[AsyncSession]) -> tuple[str, int]:
        async with unit_of_work(sessions) as uow:
            batch = await import_codes(uow, Principal(brand, Role.brand, brand), rule, until, codes, utcnow())
            return batch.id, batch.count

    batch_id, count = _run(_lines_named(work, path, lines))
    typer.echo(f"imported {count:,} codes as batch {batch_id}")


def _lines_named(
    work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]], path: Path, lines: list[int]
) -> Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]:
    """``work``, with the import's refused places (``codes.N``) told as the file's lines."""

    async def named(sessions: async_sessionmaker[AsyncSession]) -> T:
        try:
            return await work(sessions)
        except DiscountsError as exc:
            for error in exc.errors or []:
                if error["loc"][1:2] == ["codes"] and len(error["loc"]) == 3:
                    error["loc"] = ["body", f"{path}:{lines[int(error['loc'][2])]}"]
            raise

    return named


def _read_codes(path: Path) -> tuple[list[str], list[int]]:
    """The file's codes (upper-case) and the line each is on; every malformed line is listed, then exit 1."""
    codes, lines, wrong = [], [], []
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        columns = set(reader.fieldnames or [])
        if "code" not in columns or not columns <= IMPORT_COLUMNS:
            typer.echo(f"{path}:1: the header must be 'code' (and optionally 'hash'), not {sorted(columns)}", err=True)
            raise typer.Exit(1)
        for row in reader:
            try:
                code = normalize_code(row["code"] or "")
            except ValueError as exc:
                wrong.append(f"{path}:{reader.line_num}: {exc}")
                continue
            if row.get("hash") and row["hash"].lower() != code_hash(code):
                wrong.append(f"{path}:{reader.line_num}: the hash is not the SHA-256 of {code}")
                continue
            codes.append(code)
            lines.append(reader.line_num)
    if not wrong and not codes:
        wrong.append(f"{path}: no codes")
    if len(codes) > MAX_BATCH:
        wrong.append(f"{path}: {len(codes):,} codes; a batch holds at most {MAX_BATCH:,}: split the file")
    for line in wrong:
        typer.echo(line, err=True)
    if wrong:
        raise typer.Exit(1)
    return codes, lines
