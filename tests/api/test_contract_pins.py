"""Every (status, ``code``) pair API.md pins is declared, for its operation, by the OpenAPI document.

API.md part 1 pinned 422 for a code of an unregistered brand; the service came to answer 404
and the document said so, and nothing noticed. Here the pairs are read from API.md itself
(its error table and its prose, e.g. "→ 410 `hold_expired`"), so a pair added to or changed in
the contract fails the test until ``PINNED`` says which operations answer it; each of those
operations must declare the status and name the ``code`` in that response's description.
Pairs of operations still being built are in ``NOT_BUILT_YET``, which fails as soon as one of
them is declared: move it to ``PINNED`` then.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from discounts.api.app import create_app
from discounts.settings import Settings
from tests.services import missing

#: API.md lives beside the repository, in ``shared/`` (CI clones the repository next to it).
API_MD = Path(__file__).resolve().parents[2].parent / "shared" / "API.md"

Pin = tuple[int, str, str, str]  # status, code, method, path (as the OpenAPI document writes it)

CODE = ("POST", "/api/v1/discountcode/")
FETCH = ("GET", "/api/v1/discountcode/{id}/")
RULE = ("POST", "/api/v1/discountrule/")
REDEEM = ("POST", "/api/v1/discountcodeusage/")
QUOTE = ("POST", "/api/v1/discountcodequote/")  # "exactly the error it [a redemption] would return"
CONFIRM = ("POST", "/api/v1/discountcodeusage/{usage_id}/confirm/")
ROLLBACK = ("DELETE", "/api/v1/discountcodeusage/{usage_id}/")
BATCH = ("POST", "/api/v1/discountcodebatch/")
CSV = ("GET", "/api/v1/discountcodebatch/{id}/codes.csv")
DIRECTORY = [("PUT", "/api/v1/brands/{brand_id}/"), ("PUT", "/api/v1/users/{user_id}/"), ("POST", "/api/v1/users/")]
#: Every operation parts 1 and 2 pin: each needs a token and is rate limited.
PINNED_OPERATIONS = [
    *DIRECTORY,
    CODE,
    FETCH,
    RULE,
    REDEEM,
    QUOTE,
    CONFIRM,
    ROLLBACK,
    BATCH,
    ("GET", "/api/v1/discountcodebatch/{id}/"),
    CSV,
]
#: Part 3's operations.
CARTS = [
    ("POST", "/api/v1/cartquote/"),
    ("POST", "/api/v1/cartredemption/"),
    ("POST", "/api/v1/cartredemption/{id}/confirm/"),
    ("DELETE", "/api/v1/cartredemption/{id}/"),
]
WEBHOOK = [
    ("GET", "/api/v1/webhooks/{id}/"),
    ("PATCH", "/api/v1/webhooks/{id}/"),
    ("DELETE", "/api/v1/webhooks/{id}/"),
    ("GET", "/api/v1/webhooks/{id}/deliveries/"),
    ("POST", "/api/v1/webhooks/{id}/secret/"),
    ("POST", "/api/v1/webhooks/{id}/test/"),
]
WEBHOOKS = [("POST", "/api/v1/webhooks/"), ("GET", "/api/v1/webhooks/"), *WEBHOOK]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The OpenAPI document, as ``/openapi.json`` serves it (no store needed to build it)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("pins"), _env_file=None)  # type: ignore[call-arg]
    return create_app(settings).openapi()


def pins(status: int, code: str, operations: list[tuple[str, str]]) -> set[Pin]:
    return {(status, code, method, path) for method, path in operations}


#: Which operations answer each pair, as API.md says in the sentence that names the pair.
PINNED: set[Pin] = (
    # Part 1, "Errors": every protected operation; the role's, the brand's and the user's checks.
    pins(401, "unauthenticated", PINNED_OPERATIONS)
    | pins(403, "forbidden", [op for op in PINNED_OPERATIONS if op != FETCH])  # FETCH: any principal
    | pins(403, "brand_mismatch", [CODE, RULE, BATCH])  # "a brand creates a code or rule for another brand"
    | pins(403, "user_mismatch", [REDEEM, QUOTE])
    | pins(404, "code_not_found", [FETCH, REDEEM, QUOTE])  # also "Guessing"
    | pins(409, "code_exists", [CODE])
    | pins(409, "code_already_used", [REDEEM, QUOTE])
    | pins(410, "code_expired", [REDEEM, QUOTE])
    | pins(422, "validation_error", [op for op in PINNED_OPERATIONS if op != ("GET", "/api/v1/discountcodebatch/")])
    | pins(429, "rate_limited", PINNED_OPERATIONS)  # "Guessing" too: lookups, quotes, redemptions
    # Part 2, "Rules": the redemption's checks, in order.
    | pins(403, "not_in_group", [REDEEM, QUOTE])
    | pins(409, "code_not_active", [REDEEM, QUOTE])
    | pins(422, "min_amount_not_met", [REDEEM, QUOTE])
    | pins(422, "currency_mismatch", [REDEEM, QUOTE])
    | pins(409, "code_exhausted", [REDEEM, QUOTE])
    # "Usages": confirm and roll back.
    | pins(410, "hold_expired", [CONFIRM])
    | pins(404, "usage_not_found", [CONFIRM, ROLLBACK])
    # "Retries": the three operations that take an Idempotency-Key.
    | pins(422, "idempotency_key_reused", [REDEEM, CODE, CONFIRM])
    | pins(409, "idempotency_in_progress", [REDEEM, CODE, CONFIRM])
    # "Bulk single-use codes".
    | pins(409, "batch_not_ready", [CSV])
    # Part 3: the cart and the webhooks.
    | pins(401, "unauthenticated", CARTS + WEBHOOKS)
    | pins(403, "forbidden", CARTS + WEBHOOKS)
    | pins(422, "validation_error", CARTS + [op for op in WEBHOOKS if op != ("GET", "/api/v1/webhooks/")])
    | pins(429, "rate_limited", CARTS + WEBHOOKS)
    | pins(422, "lines_required", [REDEEM, QUOTE])  # "Targeting, stacking and priority"
    | pins(409, "cart_rejected", [("POST", "/api/v1/cartredemption/")])
    | pins(410, "hold_expired", [("POST", "/api/v1/cartredemption/{id}/confirm/")])
    | pins(404, "cart_not_found", CARTS[2:])
    | pins(422, "idempotency_key_reused", [("POST", "/api/v1/cartredemption/"), CARTS[2]])
    | pins(409, "idempotency_in_progress", [("POST", "/api/v1/cartredemption/"), CARTS[2]])
    | pins(404, "webhook_not_found", WEBHOOK)
)

#: Pinned by part 3 for operations other engineers are building: empty it as they are merged.
#: Pairs whose operations are still being built: empty while every operation of API.md exists.
NOT_BUILT_YET: set[Pin] = set()

#: "| 409 | `code_exists` |" in a table; "409 `code_exists`" or "422 `a` / `b`" in prose.
TABLE_ROW = re.compile(r"^\| ([1-5]\d\d) \| `([a-z_]+)` \|", re.MULTILINE)
PROSE = re.compile(r"\b([1-5]\d\d) (`[a-z_]+`(?:\s*/\s*`[a-z_]+`)*)")


def pairs_in_the_contract() -> set[tuple[int, str]]:
    if not API_MD.exists():
        missing("../shared/API.md", f"not found at {API_MD}")
    text = API_MD.read_text()
    pairs = {(int(status), code) for status, code in TABLE_ROW.findall(text)}
    for status, codes in PROSE.findall(text):
        pairs |= {(int(status), code) for code in re.findall(r"`([a-z_]+)`", codes)}
    return pairs


def declared(document: dict[str, Any], pin: Pin) -> bool:
    """The operation answers the status and names the code in that answer's description."""
    status, code, method, path = pin
    response = document["paths"].get(path, {}).get(method.lower(), {}).get("responses", {}).get(str(status))
    return response is not None and f"`{code}`" in response.get("description", "")


def test_every_pair_the_contract_pins_is_placed_here() -> None:
    placed = {(status, code) for status, code, *_ in PINNED | NOT_BUILT_YET}
    in_contract = pairs_in_the_contract()
    assert in_contract - placed == set(), "API.md pins these: add their operations to PINNED or NOT_BUILT_YET"
    assert placed - in_contract == set(), "API.md no longer pins these"


def test_the_openapi_document_declares_each_pinned_answer_for_its_operation(document: dict[str, Any]) -> None:
    undeclared = sorted(pin for pin in PINNED if not declared(document, pin))
    assert undeclared == [], "the document does not declare these pinned answers (status, code, method, path)"


def test_nothing_awaiting_its_operation_is_declared_yet(document: dict[str, Any]) -> None:
    built = sorted(pin for pin in NOT_BUILT_YET if declared(document, pin))
    assert built == [], "these are declared now: move them from NOT_BUILT_YET to PINNED"
