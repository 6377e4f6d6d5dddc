"""Every event type has a recorded example and a published JSON Schema; producers
emit what the schema says and consumers accept what the example shows."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any, get_type_hints

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from mianshen_shared.events import EVENTS, parse_envelope, parse_payload
from mianshen_shared.events.schemas import event_schema

pytestmark = pytest.mark.contract
HERE = Path(__file__).parent
CONSUMERS = ["credit_check", "eligibility", "confirmation", "payment"]


def example(event_type: str) -> dict[str, Any]:
    return json.loads((HERE / "examples" / f"{event_type}.json").read_text("utf-8"))


def validator(event_type: str) -> Draft202012Validator:
    schema = json.loads((HERE / "schemas" / f"{event_type}.schema.json").read_text("utf-8"))
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_every_event_type_has_a_recorded_example_that_matches_its_schema(event_type: str) -> None:
    errors = [e.message for e in validator(event_type).iter_errors(example(event_type))]
    assert errors == []


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_published_schema_is_what_the_models_define(event_type: str) -> None:
    checked_in = json.loads((HERE / "schemas" / f"{event_type}.schema.json").read_text("utf-8"))
    assert checked_in == json.loads(json.dumps(event_schema(EVENTS[event_type]))), (
        "the event model drifted from its published schema; if intended, run "
        "`python -m mianshen_shared.events.schemas --write` and bump the event version when not backward compatible"
    )


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_consumers_accept_the_recorded_example(event_type: str) -> None:
    envelope = parse_envelope(json.dumps(example(event_type)).encode())
    payload = parse_payload(envelope)
    assert payload.model_dump(mode="json") == example(event_type)["data"]


def _handlers(package: str) -> dict[str, Any]:
    return importlib.import_module(f"{package}.handlers").HANDLERS  # type: ignore[no-any-return]


@pytest.mark.parametrize("package", CONSUMERS)
def test_each_handler_takes_the_payload_model_of_the_event_it_is_registered_for(package: str) -> None:
    for event_type, handler in _handlers(package).items():
        assert event_type in EVENTS, f"{package} listens to an undeclared event type {event_type}"
        first = next(iter(inspect.signature(handler).parameters))
        assert get_type_hints(handler)[first] is EVENTS[event_type].model


def test_a_tampered_example_is_refused_by_schema_and_consumer() -> None:
    tampered = example("confirmation.accepted")
    tampered["data"]["amount_fen"] = -1
    tampered["data"]["status"] = "paid"
    assert list(validator("confirmation.accepted").iter_errors(tampered))
    with pytest.raises(Exception, match="数据不合法"):
        parse_payload(parse_envelope(json.dumps(tampered).encode()))
