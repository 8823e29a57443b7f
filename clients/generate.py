"""Regenerates both clients from the service's own OpenAPI document (``scripts/generate-clients`` runs it).

The document is built in-process (``create_app(settings).openapi()``), written to
``clients/openapi.json``, and fed to the two generators: openapi-python-client (in a venv of its
own, see ``clients/python/generator-constraints.txt``) and openapi-typescript (npm, from
``clients/typescript/node_modules``). Nothing here touches the network. ``--out DIR`` writes the
same files under DIR instead of the repository; the drift test (tests/clients/test_drift.py)
compares the two trees.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = Path("clients/openapi.json")
PYTHON_PACKAGE = Path("clients/python/src/discounts_client/generated")
TYPESCRIPT_DIR = Path("clients/typescript/src/generated")
GENERATOR = ROOT / ".venv/clients-generator/bin"
NODE_BIN = ROOT / "clients/typescript/node_modules/.bin"

#: Every file the generators write, relative to the repository (the drift test compares these).
GENERATED = (DOCUMENT, PYTHON_PACKAGE, TYPESCRIPT_DIR)


def build_document() -> dict[str, Any]:
    """The document the service serves at /openapi.json, whatever the environment configures."""
    for name in [name for name in os.environ if name.startswith("DISCOUNTS_")]:
        del os.environ[name]
    from discounts.api.app import create_app
    from discounts.settings import Settings

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), jwt_secret="x" * 32, _env_file=None)  # type: ignore[call-arg]
        return create_app(settings).openapi()


def dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def for_python_generator(document: dict[str, Any]) -> dict[str, Any]:
    """The same document with three things openapi-python-client cannot take as they are.

    - ``operationId``: FastAPI's ids end with the path and method (``use_code_api_v1_discountcodeusage__post``);
      the route's own name (``use_code``) names the generated module.
    - ``oneOf`` that only restates properties (RedemptionIn: exactly one of ``amount`` and ``items``;
      RuleIn: one kind of discount) stops the generator from generating the model at all; the
      service still checks it (422).
    - Money in requests is a decimal string or a number; the client sends strings only (the
      hand-written layer formats ``Decimal``), so the number branch is dropped: no float for money.
    """
    document = copy.deepcopy(document)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            suffix = re.sub(r"\W", "_", path) + "_" + method
            operation_id = operation.get("operationId", "")
            if operation_id.endswith(suffix) and len(operation_id) > len(suffix):
                operation["operationId"] = operation_id[: -len(suffix)]
    for schema in document["components"]["schemas"].values():
        branches = schema.get("oneOf")
        if branches and "properties" in schema and all("$ref" not in b and "type" not in b for b in branches):
            del schema["oneOf"]
    _strings_for_money(document["components"]["schemas"])
    return document


def _strings_for_money(node: Any) -> None:
    if isinstance(node, dict):
        options = node.get("anyOf")
        if isinstance(options, list) and any(_is_money_number(o) for o in options):
            node["anyOf"] = [o for o in options if not _is_money_number(o)]
            if len(node["anyOf"]) == 1:
                (only,) = node.pop("anyOf")
                node.update(only)
        for value in node.values():
            _strings_for_money(value)
    elif isinstance(node, list):
        for value in node:
            _strings_for_money(value)


def _is_money_number(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "number" and schema.get("multipleOf") == 0.01


def idempotent_operations(document: dict[str, Any]) -> list[str]:
    """``METHOD path`` of every operation that takes an ``Idempotency-Key`` header."""
    return sorted(
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    )


def generate_python(document: dict[str, Any], out: Path) -> None:
    target = out / PYTHON_PACKAGE
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "openapi.json"
        source.write_text(dump(for_python_generator(document)))
        config = ROOT / "clients/python/openapi-python-client.yaml"
        argv = [str(GENERATOR / "openapi-python-client"), "generate", "--path", str(source), "--config", str(config)]
        argv += ["--meta", "none", "--output-path", str(target)]
        env = {**os.environ, "PATH": f"{GENERATOR}{os.pathsep}{os.environ.get('PATH', '')}"}
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0 or "Warning" in result.stdout:
        raise SystemExit(f"openapi-python-client failed or warned:\n{result.stdout}\n{result.stderr}")


def generate_typescript(document: dict[str, Any], out: Path) -> None:
    target = out / TYPESCRIPT_DIR
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    argv = [str(NODE_BIN / "openapi-typescript"), str(out / DOCUMENT), "--output", str(target / "schema.ts")]
    argv.append("--default-non-nullable=false")  # a field with a default may be left out of a request
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"openapi-typescript failed:\n{result.stdout}\n{result.stderr}")
    keyed = ",\n".join(f"  {json.dumps(operation)}" for operation in idempotent_operations(document))
    (target / "idempotent.ts").write_text(
        "// Generated by clients/generate.py from clients/openapi.json: do not edit.\n"
        "/** `METHOD path` of every operation that takes an `Idempotency-Key` header. */\n"
        f"export const IDEMPOTENT_OPERATIONS: ReadonlySet<string> = new Set([\n{keyed},\n]);\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="write under this folder instead of the repository")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    document = build_document()
    (out / DOCUMENT).parent.mkdir(parents=True, exist_ok=True)
    (out / DOCUMENT).write_text(dump(document))
    generate_python(document, out)
    generate_typescript(document, out)
    print(f"generated {', '.join(str(p) for p in GENERATED)} under {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
