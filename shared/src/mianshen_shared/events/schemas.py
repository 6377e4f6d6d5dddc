"""JSON Schemas of every event (envelope + payload), generated from the models.

The checked-in copies under tests/contract/schemas/ are the published contract;
a test fails when a model drifts from them. Regenerate deliberately with
`python -m mianshen_shared.events.schemas --write`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mianshen_shared.config import REPO_ROOT
from mianshen_shared.events.catalog import EVENTS, EventSpec
from mianshen_shared.events.envelope import Envelope

SCHEMA_DIR = REPO_ROOT / "tests" / "contract" / "schemas"


def event_schema(spec: EventSpec) -> dict[str, Any]:
    envelope = Envelope.model_json_schema()
    payload = spec.model.model_json_schema(ref_template="#/$defs/{model}")
    defs = {**envelope.pop("$defs", {}), **payload.pop("$defs", {})}
    envelope["properties"]["type"] = {"const": spec.type}
    envelope["properties"]["dataversion"] = {"const": spec.version}
    envelope["properties"]["data"] = payload
    envelope["required"] = sorted({*envelope.get("required", []), "id", "type", "dataversion", "subject", "time"})
    envelope["title"] = f"{spec.type} v{spec.version}"
    envelope["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    envelope["x-topic"] = spec.topic
    envelope["x-producer"] = spec.producer
    if defs:
        envelope["$defs"] = defs
    return envelope


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for spec in EVENTS.values():
        path = directory / f"{spec.type}.schema.json"
        path.write_text(json.dumps(event_schema(spec), ensure_ascii=False, indent=2, sort_keys=True) + "\n", "utf-8")
        out.append(path)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true")
    if parser.parse_args().write:
        for p in write():
            print(p)
