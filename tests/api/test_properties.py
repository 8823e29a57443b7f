"""Property tests: no payload yields a 5xx, and a refused request never changes stored state.

Bodies are random JSON and mutations of valid bodies (a field dropped, replaced by junk or an
edge value, an unknown field added), sent with the token of the role each endpoint expects so
that the payload, not the authorisation, is what gets judged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from discounts.db import Base
from tests.conftest import Api

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
EDGE_VALUES = st.sampled_from(
    [
        "", "0", "-1", "1.005", "NaN", "1e3", "5_000", 0, -1, 2**31, 2**63, 10**20, 1e308, 1.5, True, None, [], {},
        "ä", "straße", "\x00", "A" * 65, "u-1", "acme", "SPRINGSALE2022", "2027-05-31T23:59:59", "2020-01-01T00:00:00Z",
        "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00", 1893456000, "a@b", "promo@acme.example",
    ]
)  # fmt: skip

VALID: dict[str, list[Any]] = {
    "brand": [{"name": "Acme", "email": "promo@acme.example"}],
    "user": [{"email": "ann@example.com", "group": "individual"}, {"email": "bob@example.com"}],
    "bulk": [[{"id": "u-2", "email": "b@example.com", "group": "wholesale"}, {"id": "u-3", "email": "c@example.com"}]],
    "code": [
        {
            "id": "NEWCODE",
            "rule": {"brand": "acme", "discount": 20, "group": "vip"},
            "validity": "2027-05-31T23:59:59Z",
        },
        {"id": "BYRULE", "rule": 1, "validity": "2026-02-01T00:00:00+01:00"},
        {
            "id": "FIXEDOFF",
            "rule": {
                "brand": "acme",
                "amount_off": "5",
                "currency": "EUR",
                "min_amount": "20",
                "starts_at": "2026-01-01T00:00:00Z",
                "max_uses": 10,
                "max_uses_per_user": 2,
                "budget": "100",
            },
            "validity": "2027-05-31T23:59:59Z",
        },
    ],
    "rule": [
        {"brand": "acme", "discount": 20},
        {"brand": "acme", "amount_off": "5.00", "currency": "EUR", "max_uses": 3, "budget": "9.99", "group": "vip"},
    ],
    "usage": [
        {"code": "SPRINGSALE2022", "user": "u-1", "amount": "120.00"},
        {"code": "springsale2022", "user": "u-1", "items": [{"brand": "acme", "price": "50.00", "quantity": 2}]},
        {"code": "LIMITED", "user": "u-1", "amount": "120.00", "currency": "EUR"},
    ],
}
VALID["quote"] = VALID["usage"]
VALID["batch"] = [
    {"rule": {"brand": "acme", "discount": 20}, "validity": "2027-05-31T23:59:59Z", "count": 1000},
    {"rule": 1, "validity": "2027-05-31T23:59:59Z", "count": 5, "prefix": "vip-", "length": 7, "distribute": True},
]
VALID["import"] = [
    {"rule": {"brand": "acme", "amount_off": "5", "currency": "EUR"}, "validity": "2027-05-31T23:59:59Z",
     "codes": ["OLD-1", "old-2", "OLD-3"]},
    {"rule": 1, "validity": "2027-05-31T23:59:59Z", "codes": ["MOVED", "SPRINGSALE2022"]},
]  # fmt: skip


def mutated(value: Any) -> st.SearchStrategy[Any]:
    """``value`` with one part dropped, replaced or wrapped; containers are mutated recursively."""
    junk = JSON | EDGE_VALUES
    if isinstance(value, dict) and value:
        keys = st.sampled_from(sorted(value))
        return st.one_of(
            keys.map(lambda k: {kk: vv for kk, vv in value.items() if kk != k}),
            st.tuples(keys, junk).map(lambda kv: {**value, kv[0]: kv[1]}),
            keys.flatmap(lambda k: mutated(value[k]).map(lambda v: {**value, k: v})),
            st.tuples(st.text(min_size=1, max_size=8), junk).map(lambda kv: {**value, kv[0]: kv[1]}),
        )
    if isinstance(value, list) and value:
        indexes = st.integers(min_value=0, max_value=len(value) - 1)
        return st.one_of(
            st.just([]),
            indexes.map(lambda i: value[:i] + value[i + 1 :]),
            indexes.map(lambda i: [*value, value[i]]),
            indexes.flatmap(lambda i: mutated(value[i]).map(lambda v: [*value[:i], v, *value[i + 1 :]])),
        )
    return junk


def bodies(kind: str) -> st.SearchStrategy[Any]:
    valid = st.sampled_from(VALID[kind])
    return st.one_of(JSON, valid, valid.flatmap(mutated), valid.flatmap(mutated).flatmap(mutated))


async def snapshot(app: FastAPI, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Every row of every table, and how many usages the usage store holds per code."""
    state: dict[str, Any] = {}
    async with sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table).order_by(*table.primary_key.columns))).all()
            state[table.name] = [tuple(row) for row in rows]
    store = app.state.runtime.store
    state["usage_store"] = {
        code: await store.count(code, app.state.runtime.clock()) for (code, *_rest) in state["discount_codes"]
    }
    return state


@pytest.fixture
async def seeded(api: Api) -> Api:
    await api.brand("acme")
    await api.user("u-1")
    await api.code("SPRINGSALE2022", discount=10)
    await api.code("OTHERCODE", discount=50)
    limited = {"brand": "acme", "amount_off": "30", "currency": "EUR", "min_amount": "50", "max_uses": 2}
    body = {"id": "LIMITED", "rule": {**limited, "budget": "40"}, "validity": "2027-05-31T23:59:59Z"}
    assert (await api.client.post("/api/v1/discountcode/", json=body, headers=api.auth.brand())).status_code == 201
    return api


ENDPOINTS = {
    "brand": ("PUT", "/api/v1/brands/{}/", "service"),
    "user": ("PUT", "/api/v1/users/{}/", "service"),
    "bulk": ("POST", "/api/v1/users/", "service"),
    "code": ("POST", "/api/v1/discountcode/", "brand"),
    "rule": ("POST", "/api/v1/discountrule/", "brand"),
    "usage": ("POST", "/api/v1/discountcodeusage/", "user"),
    "quote": ("POST", "/api/v1/discountcodequote/", "user"),
    "batch": ("POST", "/api/v1/discountcodebatch/", "brand"),
    "import": ("POST", "/api/v1/discountcodeimport/", "brand"),
}
PATH_IDS = st.sampled_from(["acme", "u-1", "zeta", "Z.9:x@y", "-bad", "ä", "a" * 65])


@pytest.mark.parametrize("kind", ENDPOINTS)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_no_5xx_and_refusals_change_nothing(
    seeded: Api, app: FastAPI, sessions: async_sessionmaker[AsyncSession], kind: str, data: st.DataObject
) -> None:
    method, template, role = ENDPOINTS[kind]
    path = template.format(data.draw(PATH_IDS, label="path id")) if "{}" in template else template
    body = data.draw(bodies(kind), label="body")
    headers = {"service": seeded.auth.service, "brand": seeded.auth.brand, "user": seeded.auth.user}[role]()
    before = await snapshot(app, sessions)
    raw = json.dumps(body).encode()  # allows NaN and Infinity, which Python's JSON parser reads too
    headers["Content-Type"] = "application/json"
    response = await seeded.client.request(method, path, content=raw, headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
        assert await snapshot(app, sessions) == before, response.text
    else:
        assert response.headers["content-type"] == "application/json"
