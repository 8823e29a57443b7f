from __future__ import annotations

import orjson
from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy import text

from discounts import metrics
from discounts.api.deps import RuntimeDep
from discounts.api.problems import problem, problem_responses
from discounts.jobs.broker import ping_broker

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses=problem_responses(503))
async def readyz(runtime: RuntimeDep) -> Response:
    """Every store and the broker answer."""
    checks: dict[str, str] = {}
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        await runtime.store.ping()
        checks["usage_store"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["usage_store"] = f"error: {exc.__class__.__name__}"
    try:
        await ping_broker(runtime.settings)
        checks["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = f"error: {exc.__class__.__name__}"
    failed = {name: state for name, state in checks.items() if state != "ok"}
    if failed:
        detail = ", ".join(f"{name} {state}" for name, state in failed.items())
        return problem(503, "not_ready", "Not ready", detail)
    return Response(orjson.dumps({"status": "ok", "checks": checks}), media_type="application/json")


@router.get("/metrics", response_class=PlainTextResponse)
async def prometheus() -> Response:
    """Prometheus text format."""
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
