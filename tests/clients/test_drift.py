"""The committed clients are what the generators make of the service's OpenAPI document today.

An API change that forgets the clients cannot land: ``scripts/generate-clients`` regenerates them,
and this test does the same into a temporary folder and compares, file by file.
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.clients.conftest import ROOT

GENERATE = ROOT / "clients/generate.py"
GENERATED = (
    "clients/openapi.json",
    "clients/python/src/discounts_client/generated",
    "clients/typescript/src/generated",
)


def committed_document() -> dict[str, Any]:
    return json.loads((ROOT / "clients/openapi.json").read_text())  # type: ignore[no-any-return]


def files(root: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for name in GENERATED:
        path = root / name
        for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
            if "__pycache__" not in file.parts:
                found[str(file.relative_to(root))] = file.read_bytes()
    return found


def test_the_committed_clients_are_generated_from_todays_document(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATE), "--out", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    fresh, committed = files(tmp_path), files(ROOT)
    assert sorted(fresh) == sorted(committed), "files differ: run scripts/generate-clients and commit the result"
    for name, content in fresh.items():
        if content != committed[name]:
            diff = difflib.unified_diff(
                committed[name].decode().splitlines(), content.decode().splitlines(), name, "regenerated", lineterm=""
            )
            raise AssertionError("\n".join([f"{name} is stale: run scripts/generate-clients", *list(diff)[:60]]))
