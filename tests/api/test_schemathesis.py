"""Schemathesis against the ASGI app: generated requests, valid and invalid, with real tokens.

Each response must not be a 5xx and must match the OpenAPI document: a documented status,
the documented content type and the documented body schema (problem details for errors).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from discounts.api.app import create_app
from discounts.settings import Settings
from tests.conftest import FakeClock, make_token

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def token_for(settings: Settings, case: Case) -> str:
    """A valid token of the role the operation expects, acting for whoever the body names."""
    path, body = case.operation.path, case.body if isinstance(case.body, dict) else {}
    if path.startswith(("/api/v1/brands/", "/api/v1/users/", "/api/v1/dashboardlink/")):
        return make_token(settings, "service", "marketplace")
    if path.startswith("/api/v1/discountcodeusage/"):
        user = body.get("user")
        return make_token(settings, "user", user if isinstance(user, str) and user else "u-1")
    if path in ("/api/v1/discountcode/", "/api/v1/discountrule/", "/api/v1/discountcodeimport/") or path.startswith(
        "/api/v1/discountcodebatch/"
    ):
        rule = body.get("rule", body)
        brand = rule.get("brand") if isinstance(rule, dict) else None
        brand = brand if isinstance(brand, str) and brand else "acme"
        return make_token(settings, "brand", brand, brand)
    if path.startswith("/api/v1/discountcode/{id}/"):  # a code's progress, stats, usages: its brand's
        return make_token(settings, "brand", "acme", "acme")
    return make_token(settings, "user", "u-1")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_conform(settings: Settings, clock: FakeClock, mode: GenerationMode) -> None:
    app = create_app(settings, clock=clock)
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        with asgi.get_client(app) as client:
            headers = {"Authorization": f"Bearer {make_token(settings, 'service', 'marketplace')}"}
            assert client.put(
                "/api/v1/brands/acme/", json={"name": "Acme", "email": "a@acme.example"}, headers=headers
            ).ok
            assert client.put("/api/v1/users/u-1/", json={"email": "u@example.com"}, headers=headers).ok
        tested = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            if mode is GenerationMode.NEGATIVE and not (operation.body or any(operation.iter_parameters())):
                continue  # nothing to make invalid (GET /healthz)
            run_operation(settings, operation.as_strategy(generation_mode=mode))
            tested += 1
        assert tested >= 10
    finally:
        asgi.shutdown_lifespans()


def run_operation(settings: Settings, cases: Any) -> None:
    @hypothesis_settings(
        max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=False
    )
    @given(case=cases)
    def check(case: Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {token_for(settings, case)}"}, checks=CHECKS)

    check()
