"""The policy document's JSON Schema, with its errors told in Chinese."""

from __future__ import annotations

import functools
import json
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from mianshen_shared.config import REPO_ROOT
from mianshen_shared.schema_messages import describe, path_text

SCHEMA_FILE = REPO_ROOT / "policies" / "schema" / "policy.schema.json"

__all__ = ["SCHEMA_FILE", "path_text", "schema_errors", "validator"]


@functools.cache
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_FILE.read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def schema_errors(document: dict[str, Any]) -> list[str]:
    errors = sorted(validator().iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [describe(err) for err in errors]
