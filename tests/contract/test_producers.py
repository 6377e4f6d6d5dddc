"""Producers' real output, checked against the published schemas."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from mianshen_shared.events import Envelope, make_envelope, parse_payload

pytestmark = pytest.mark.contract
HERE = Path(__file__).parent


def assert_matches_contract(envelope: Envelope) -> None:
    schema = json.loads((HERE / "schemas" / f"{envelope.type}.schema.json").read_text("utf-8"))
    body = json.loads(envelope.to_bytes())
    errors = [e.message for e in Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(body)]
    assert errors == []
    recorded = json.loads((HERE / "examples" / f"{envelope.type}.json").read_text("utf-8"))
    assert set(body["data"]) <= set(recorded["data"]) | {"previous_amount_fen", "enterprise_name"}


async def test_credit_check_emits_credit_assessed_as_published() -> None:
    from credit_check import service
    from mianshen_shared.events.catalog import ConfirmationAccepted

    class NoRecords:
        async def assessment_for_confirmation(self, _id: object) -> None:
            return None

        async def get_acceptance(self, _id: object) -> None:
            return None

        async def add_acceptance(self, _a: object) -> None:
            return None

        async def active_records(self, *_: object) -> list[object]:
            return []

        async def add_assessment(self, _a: object) -> None:
            return None

    accepted = parse_payload(
        Envelope.model_validate_json((HERE / "examples" / "confirmation.accepted.json").read_bytes())
    )
    assert isinstance(accepted, ConfirmationAccepted)
    out = await service.assess(
        NoRecords(),  # type: ignore[arg-type]
        accepted=accepted,
        today=date(2026, 1, 1),
        now=datetime.now(UTC),
    )
    assert_matches_contract(make_envelope(out, source="credit-check", subject=out.uscc, correlation_id="c"))
