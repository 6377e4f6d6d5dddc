"""The gateway as a whole: request ids, probes, its published contract, and the
place where access control will attach."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from gateway.access import is_guard
from gateway.main import ALL_ROUTERS

from .factories import batch, title_record
from .harness import PROBLEM_JSON, Harness

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/v1/data-events", {"json": batch(title_record())}),
        ("POST", "/v1/data-events", {"content": b"{", "headers": {"content-type": "application/json"}}),
        ("GET", "/v1/enterprises/not-a-code/credit", {}),
        ("GET", "/v1/policies", {}),
        ("GET", "/v1/no-such-route", {}),
        ("GET", "/healthz", {}),
    ],
    ids=["accepted", "malformed", "bad-uscc", "proxied-404", "unknown-route", "probe"],
)
async def test_every_answer_carries_a_request_id(gw: Harness, method: str, path: str, kwargs: dict[str, Any]) -> None:
    headers = kwargs.pop("headers", {})
    generated = await gw.client.request(method, path, headers=headers, **kwargs)
    assert len(generated.headers["x-request-id"]) >= 16
    echoed = await gw.client.request(method, path, headers={**headers, "X-Request-ID": "from-client"}, **kwargs)
    assert echoed.headers["x-request-id"] == "from-client"


async def test_ready_when_the_broker_and_every_service_answer(gw: Harness) -> None:
    r = await gw.client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {
        "kafka": "ok",
        "policy-catalog": "ok",
        "eligibility": "ok",
        "confirmation": "ok",
        "credit-check": "ok",
        "payment": "ok",
    }


async def test_not_ready_while_a_service_is_down(gw: Harness) -> None:
    gw.services.reply("http://127.0.0.1:8005", "/healthz", httpx.ConnectError("refused"))
    r = await gw.client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["payment"].startswith("down")


async def test_not_ready_without_a_broker_connection(gw: Harness) -> None:
    gw.app.state.gateway.producer = None
    r = await gw.client.get("/readyz")
    assert (r.status_code, r.json()["checks"]["kafka"]) == (503, "down")


async def test_alive_and_counting(gw: Harness) -> None:
    assert (await gw.client.get("/healthz")).json() == {"status": "ok"}
    await gw.client.get("/v1/policies")
    metrics = (await gw.client.get("/metrics")).text
    assert 'mianshen_http_requests_total{method="GET",route="/v1/policies",service="gateway"' in metrics


def _v1_routes() -> list[APIRoute]:
    return [r for router in ALL_ROUTERS for r in router.routes if isinstance(r, APIRoute)]


def test_every_v1_route_declares_who_may_call_it() -> None:
    routes = _v1_routes()
    assert len(routes) >= 63
    assert [r.path for r in routes if sum(map(is_guard, r.dependencies)) != 1] == []


async def test_the_published_contract_describes_every_route(gw: Harness) -> None:
    spec = (await gw.client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    operations = [(path, op) for path, item in spec["paths"].items() for op in item.values()]
    assert {path for path, _ in operations} == {r.path for r in _v1_routes()}
    for path, op in operations:
        assert op["tags"] and op["tags"][0] in {
            "departments",
            "enterprises",
            "policies",
            "notices",
            "operators",
            "oauth",
            "third-party",
        }, path
        success = next(v for k, v in op["responses"].items() if k.startswith("2"))
        if "content" not in success and "204" in op["responses"]:
            continue
        if path.endswith("/guide"):
            assert set(success["content"]) == {"text/html", "text/markdown"}
            continue
        if path.endswith("/performance/report"):
            assert set(success["content"]) == {"text/csv", "text/html"}
            continue
        assert _refs(success["content"]["application/json"]["schema"]) <= schemas.keys(), path
        assert _refs(success["content"]["application/json"]["schema"]), f"{path} has no response model"
        errors = [v for k, v in op["responses"].items() if k[0] in "45"]
        assert errors, path
        for error in errors:
            assert list(error["content"]) == [PROBLEM_JSON], path
            assert error["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}


async def test_the_published_contract_describes_the_request_bodies(gw: Harness) -> None:
    spec = (await gw.client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    bodies = {
        path: _refs(item[method]["requestBody"]["content"]["application/json"]["schema"])
        for path, item in spec["paths"].items()
        for method in ("post", "put")
        if method in item and "application/json" in item[method].get("requestBody", {}).get("content", {})
    }
    assert sorted(name for refs in bodies.values() for name in refs) == [
        "BudgetSet",
        "ConfirmationAccept",
        "ConfirmationDecline",
        "ConsentGrant",
        "DataEventBatch",
        "InstructionAcknowledgement",
        "InstructionRefusal",
        "ObjectionCreate",
        "ObjectionDecisionCreate",
        "PolicyPublish",
        "ReconciliationCreate",
        "RecoveryDecision",
        "RecoveryDecision",
        "RecoveryProposal",
        "ReevaluationCreate",
        "RepaymentCreate",
        "TransitionReason",
        "TransitionReason",
        "TransitionReason",
    ]
    # A policy document is checked by the catalog against its own JSON Schema.
    assert bodies["/v1/operator/policies"] == set()
    # No mass assignment: no body may carry a field its model does not name.
    for name in {name for refs in bodies.values() for name in refs}:
        assert schemas[name]["additionalProperties"] is False, name
    record = schemas[_refs(schemas["DataEventBatch"]["properties"]["records"]).pop()]
    assert record["additionalProperties"] is False
    assert {"record_id", "department", "uscc", "record_type", "effective_date", "attributes"} <= set(record["required"])


def _refs(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["$ref"].rsplit("/", 1)[1]} if "$ref" in schema else set()
        return found.union(*(_refs(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_refs(v) for v in schema))
    return set()
