"""``discounts dashboard-link``: the thin command over ``dashboard/links.py``."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import typer

from discounts.clock import utcnow
from discounts.dashboard.links import SignInLink, SignInLinks, mint_link
from discounts.db import make_engine, make_sessionmaker
from discounts.errors import BrandNotFound, InvalidInput
from discounts.models import load_all
from discounts.settings import get_settings


def dashboard_link(
    brand: Annotated[str, typer.Option(help="The registered brand to sign in as, e.g. acme")],
    ttl: Annotated[
        int | None,
        typer.Option(min=60, max=7 * 86_400, help="Seconds the link works (default DISCOUNTS_DASHBOARD_LINK_SECONDS)"),
    ] = None,
) -> None:
    """Print a one-time link that signs a brand in to its dashboard (it works once, for a short while)."""
    settings = get_settings()

    async def mint() -> SignInLink:
        load_all()
        engine = make_engine(settings.resolved_database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                lifetime = None if ttl is None else timedelta(seconds=ttl)
                return await mint_link(session, SignInLinks(settings), brand, utcnow(), lifetime)
        finally:
            await engine.dispose()

    try:
        link = asyncio.run(mint())
    except (BrandNotFound, InvalidInput) as exc:
        raise typer.BadParameter(exc.errors[0]["msg"] if exc.errors else exc.detail, param_hint="--brand") from None
    typer.echo(link.url)
    typer.echo(f"works once, until {link.expires_at.isoformat()}", err=True)
