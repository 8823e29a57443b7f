"""``discounts deliver``: the deliverer as a process of its own, stopped by SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import functools
import signal

from discounts.db import make_engine, make_sessionmaker
from discounts.notify.alerts import endpoint_disabled
from discounts.notify.mail import MailTransport
from discounts.settings import Settings
from discounts.webhooks.deliverer import Deliverer


async def run_deliverer(settings: Settings) -> None:
    settings.ensure_data_dir()
    engine = make_engine(settings.resolved_database_url)
    sessions = make_sessionmaker(engine)
    deliverer = Deliverer(
        sessions,
        concurrency=settings.webhook_concurrency,
        allow_private=settings.webhook_allow_private,
        poll_seconds=settings.webhook_poll_seconds,
        on_disabled=functools.partial(endpoint_disabled, MailTransport(settings), sessions),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await deliverer.run(stop)
    finally:
        await engine.dispose()
