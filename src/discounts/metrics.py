"""Prometheus metrics; with several API processes they are aggregated through files."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
    values,
)

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def process_id() -> int:
    """This process's id, known without a system call (it changes only by ``fork``).

    In multiprocess mode prometheus_client asks ``os.getpid()`` on every increment, to notice a
    fork; that system call was the largest single cost of a redemption's metrics (py-spy,
    benchmarks/README.md). The library takes the function as a documented parameter.
    """
    return _pid


if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
    values.ValueClass = values.MultiProcessValue(process_identifier=process_id)  # type: ignore[no-untyped-call]

REQUESTS = Counter("discounts_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "discounts_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REDEMPTIONS = Counter("discounts_redemptions_total", "Redemption attempts by outcome", ["outcome"])
EMAILS = Counter("discounts_emails_total", "E-mails by kind and outcome", ["kind", "outcome"])
LEDGER_COPIED = Counter("discounts_ledger_copied_total", "Usages copied from the store's stream to the ledger")
BATCH_CODES = Counter("discounts_batch_codes_total", "Codes generated for batches")
WEBHOOK_ATTEMPTS = Counter(
    "discounts_webhook_attempts_total",
    "Webhook delivery attempts by outcome: delivered, http_error, timeout, connection_error, address_refused",
    ["outcome"],
)
WEBHOOK_LAG = Histogram(
    "discounts_webhook_lag_seconds",
    "From the action (a use, a code's creation) to the receiver's 2xx",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600, 86_400),
)
WEBHOOK_BACKLOG = Gauge(
    "discounts_webhook_backlog",
    "Deliveries owed per endpoint (due now or waiting for a retry)",
    ["endpoint"],
    multiprocess_mode="livemax",
)
BATCH_COLLISIONS = Counter(
    "discounts_batch_collisions_total", "Generated codes that existed already and were drawn again"
)


#: Labelled children, looked up once: ``.labels()`` takes a lock and builds a tuple on every call.
_requests: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
_redemptions: dict[str, Counter] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    children = _requests.get((method, route, status))
    if children is None:
        children = REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route)
        _requests[(method, route, status)] = children
    children[0].inc()
    children[1].observe(seconds)


def redemption(outcome: str) -> None:
    child = _redemptions.get(outcome)
    if child is None:
        child = _redemptions[outcome] = REDEMPTIONS.labels(outcome)
    child.inc()


def _registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def render() -> tuple[bytes, str]:
    return generate_latest(_registry()), CONTENT_TYPE_LATEST


def serve_metrics(port: int, host: str) -> None:
    """``/metrics`` on a port of its own, in a thread: for a worker, which has no API to show them."""
    start_http_server(port, addr=host, registry=_registry())
