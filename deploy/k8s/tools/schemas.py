"""Write the JSON schemas kubeconform validates our manifests against, offline.

kubeconform fetches schemas from GitHub by default, which these machines cannot
reach. Instead:

- built-in kinds come from the `kubernetes-validate` wheel (a dev dependency),
  whose per-version folders hold one schema per kind that refers into a shared
  `_definitions.json`; each kind is written standalone (its closure of
  definitions copied in) because kubeconform loads one file per kind;
- custom resources (Strimzi, CloudNativePG) come from their CRDs: every served
  version's `openAPIV3Schema` becomes a JSON schema, made strict the way
  kubeconform's own CRD converter does (objects with declared properties accept
  no others, unless the CRD says to preserve unknown fields).

Layout, matching the two `-schema-location` templates in scripts/k8s-validate:
`<out>/<kind><-group>-<version>.json` for built-ins and
`<out>/<group>/<kind>_<version>.json` for custom resources.

Usage: python schemas.py --kubernetes DIR --out DIR [CRD.yaml ...]
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

import yaml

DEFINITIONS = "_definitions.json"
REF_PREFIX = f"/api/{DEFINITIONS}#/$defs/"
LOCAL_PREFIX = "#/$defs/"  # how definitions refer to each other inside _definitions.json


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            for prefix in (REF_PREFIX, LOCAL_PREFIX):
                if ref.startswith(prefix):
                    found.add(ref.removeprefix(prefix))
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _refs(item)
    return found


def _localise(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _localise(v) for k, v in node.items() if k != "$id"}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            out["$ref"] = LOCAL_PREFIX + ref.removeprefix(REF_PREFIX)
        return out
    if isinstance(node, list):
        return [_localise(item) for item in node]
    return node


def write_builtin(source: Path, out: Path) -> int:
    """Every top-level kind of one Kubernetes version, each file standalone."""
    definitions: dict[str, Any] = json.loads((source / DEFINITIONS).read_text("utf-8"))["$defs"]
    written = 0
    for path in sorted(source.glob("*.json")):
        if path.name == DEFINITIONS:
            continue
        schema = json.loads(path.read_text("utf-8"))
        if "x-kubernetes-group-version-kind" not in schema:
            continue
        needed: set[str] = set()
        pending = _refs(schema)
        while pending:
            name = pending.pop()
            if name in needed:
                continue
            needed.add(name)
            pending |= _refs(definitions[name]) - needed
        standalone = _localise(schema)
        standalone["$defs"] = {name: _localise(definitions[name]) for name in sorted(needed)}
        (out / path.name).write_text(json.dumps(standalone), "utf-8")
        written += 1
    return written


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        kept = {k: v for k, v in out.items() if k in ("description", "pattern")}
        return {**kept, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def write_crds(crd_files: list[Path], out: Path) -> list[str]:
    """One schema per served version of every CRD in the files; returns `group/kind_version`."""
    written: list[str] = []
    for crd_file in crd_files:
        for doc in yaml.safe_load_all(crd_file.read_text("utf-8")):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            group, kind = spec["group"], spec["names"]["kind"].lower()
            (out / group).mkdir(parents=True, exist_ok=True)
            for version in spec["versions"]:
                if not version.get("served", True):
                    continue
                schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                props = schema.setdefault("properties", {})
                props["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
                props["kind"] = {"type": "string", "enum": [spec["names"]["kind"]]}
                (out / group / f"{kind}_{version['name']}.json").write_text(json.dumps(schema), "utf-8")
                written.append(f"{group}/{kind}_{version['name']}")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubernetes", type=Path, required=True, help="a kubernetes-validate *-local-strict folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("crds", type=Path, nargs="*")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    count = write_builtin(args.kubernetes, args.out)
    custom = write_crds(args.crds, args.out)
    print(f"schemas: {count} built-in kinds from {args.kubernetes.name}; custom resources: {', '.join(custom)}")


if __name__ == "__main__":
    main()
