"""The Celery broker connection check used by /readyz."""

from __future__ import annotations

import asyncio

from kombu import Connection

from discounts.settings import Settings


def broker_transport_options(settings: Settings) -> dict[str, object]:
    if settings.is_embedded_broker:
        folder = settings.data_dir.resolve() / "broker"
        (folder / "control").mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(folder / "control"),
        }
    return {}


def broker_url(settings: Settings) -> str:
    return "filesystem://" if settings.is_embedded_broker else settings.broker_url or ""


def broker_transport(settings: Settings) -> str | None:
    """The embedded broker's transport: kombu's filesystem one, with whole-file writes (see embedded_broker)."""
    return "discounts.jobs.embedded_broker:Transport" if settings.is_embedded_broker else None


async def ping_broker(settings: Settings) -> None:
    def _ping() -> None:
        with Connection(
            broker_url(settings),
            transport=broker_transport(settings),
            transport_options=broker_transport_options(settings),
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)

    await asyncio.wait_for(asyncio.to_thread(_ping), timeout=5)
