"""The TypeScript client (clients/typescript): ``tsc --strict``, then its ``node --test`` suite against a live service.

The node tests run the README's tour through the client; this test starts the service, mints the
tokens, puts a proxy that loses one answer in front of it, and checks afterwards that the client
retried with the same Idempotency-Key and received the very answer that was lost.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.clients.conftest import ROOT, Live
from tests.clients.proxy import CONFIRM_CART, REDEEM, REDEEM_CART, DropOneReply

pytestmark = pytest.mark.slow

PACKAGE = ROOT / "clients/typescript"
#: Who the node tests act as: the principal's role and subject.
PRINCIPALS = {
    "service": ("service", "marketplace"),
    "brand": ("brand", "ts-brand"),
    "proxy-brand": ("brand", "ts-proxy-brand"),
    "ann": ("user", "u-ts-ann"),
    "bob": ("user", "u-ts-bob"),
    "proxy": ("user", "u-ts-proxy"),
    "guesser": ("user", "u-ts-guesser"),
    "cart-acme": ("brand", "ts-cart-acme"),
    "cart-bolt": ("brand", "ts-cart-bolt"),
    "cara": ("user", "u-ts-cara"),
}


def compiled() -> list[Path]:
    if not (PACKAGE / "node_modules/.bin/tsc").exists() or shutil.which("node") is None:
        pytest.fail("the TypeScript client's packages are missing: run scripts/install-clients (npm ci)")
    shutil.rmtree(PACKAGE / "dist", ignore_errors=True)
    tsc = subprocess.run(
        [str(PACKAGE / "node_modules/.bin/tsc"), "-p", str(PACKAGE)], capture_output=True, text=True, check=False
    )
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr
    return sorted((PACKAGE / "dist/test").glob("*.test.js"))


def test_the_typescript_client(live: Live, tmp_path: Path) -> None:
    tests = compiled()
    assert {t.name for t in tests} >= {"live.test.js", "units.test.js"}
    proxy = DropOneReply(live.port, REDEEM, REDEEM_CART, CONFIRM_CART)
    env = {
        **os.environ,
        "DISCOUNTS_URL": live.url,
        "DISCOUNTS_PROXY_URL": proxy.url,
        "DISCOUNTS_RESULT_DIR": str(tmp_path),
        "DISCOUNTS_TOKENS": json.dumps({who: live.token(*principal) for who, principal in PRINCIPALS.items()}),
    }
    try:
        run = subprocess.run(
            ["node", "--test", "--test-reporter=spec", *map(str, tests)],
            env=env,
            cwd=PACKAGE,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        proxy.close()
    assert run.returncode == 0, run.stdout + run.stderr
    summary = dict(re.findall(r"(?m)^ℹ (tests|pass|fail|skipped|cancelled) (\d+)$", run.stdout))
    assert summary == {"tests": summary["pass"], "pass": summary["pass"], "fail": "0", "skipped": "0", "cancelled": "0"}
    assert int(summary["pass"]) >= 12, run.stdout

    assert proxy.dropped.keys() == {REDEEM, REDEEM_CART, CONFIRM_CART}
    for line, status, result in [
        (REDEEM, b"201", "redemption.json"),
        (REDEEM_CART, b"201", "cart-held.json"),
        (CONFIRM_CART, b"200", "cart-confirmed.json"),
    ]:
        assert proxy.dropped[line].startswith(b"HTTP/1.1 " + status + b" "), proxy.dropped[line]
        keys = proxy.idempotency_keys(line)
        assert len(keys) == 2, keys
        assert keys[0] == keys[1] != "", keys
        received = json.loads((tmp_path / result).read_text())
        assert received == proxy.lost_body(line)  # the very answer that was lost
