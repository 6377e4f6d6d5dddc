"""The gateway's OpenAPI document against the running gateway (schemathesis).

Every operation of /openapi.json gets a bounded number of generated requests,
authenticated as the client the route is meant for (gateway.testing.AutoAuth: a
department for its pushes and instructions, an operator whose role covers the
call, the third-party app, and 亲清在线 with a signed enterprise assertion). The
USCC in enterprise paths is pinned to one valid code, so the assertion is for the
path's enterprise and the requests reach the services rather than the 404 that
guards other enterprises' data. Each response must not be a 5xx and must match
the status codes, content types and schemas the document declares.

What it found before those were fixed (8 examples per operation, 64
operations): POST /v1/operator/policies answered an invalid policy document with
422 `policy_invalid` whose `errors` were plain strings ("id: 缺少必填字段", …) where
the Problem schema declares field-error objects (now {field, code, message} like
every other 422); GET /v1/notices, /v1/notices/batches and /v1/operator/objections
answered 500 for an `offset` beyond a 64-bit integer, which reached the database
(every `offset` is now bounded, mianshen_shared.api.Offset). Any finding fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from gateway.testing import AutoAuth, load_registry
from mianshen_shared.stack import LocalStack

pytestmark = pytest.mark.e2e

ENTERPRISE = "91410105MAH5DHGYXC"
# 64 operations × this, plus generation, stays within about two minutes on two cores.
EXAMPLES_PER_OPERATION = 8


def auth_headers(client: httpx.Client, auth: AutoAuth, request: httpx.Request) -> dict[str, str]:
    """Run AutoAuth's flow (fetching tokens through `client`) and keep what it adds."""
    flow = auth.sync_auth_flow(request)
    outgoing = next(flow)
    while outgoing is not request:
        outgoing = flow.send(client.send(outgoing))
    wanted = ("authorization", "x-enterprise-assertion")
    return {k: v for k, v in request.headers.items() if k.lower() in wanted}


def operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


def exercise(operation: Any, client: httpx.Client, auth: AutoAuth) -> Callable[[], None]:
    """A hypothesis test of one operation against the gateway `client` talks to."""
    base_url = str(client.base_url)

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,  # the same cases every run: a finding is a regression, not luck
    )
    def run(case: Any) -> None:
        if case.path_parameters and "uscc" in case.path_parameters:
            case.path_parameters["uscc"] = ENTERPRISE
        kwargs = case.as_transport_kwargs(base_url=base_url)
        probe = client.build_request(operation.method.upper(), kwargs["url"], content=_body_of(kwargs))
        response = case.call(base_url=base_url, headers=auth_headers(client, auth, probe))
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    return run


def test_every_gateway_operation_answers_as_its_openapi_document_says(stack: LocalStack) -> None:
    base_url = stack.url("gateway")
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    auth = AutoAuth(load_registry())
    failures: dict[str, str] = {}
    tried = 0
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for operation in operations(schema):
            tried += 1
            try:
                exercise(operation, client, auth)()
            except (Exception, BaseExceptionGroup) as exc:  # one operation's failure must not hide the others'
                failures[f"{operation.method.upper()} {operation.path}"] = f"{type(exc).__name__}: {exc}"[:1500]
    assert tried >= 60, f"only {tried} operations in the gateway's document"
    assert not failures, "\n\n".join(f"{label}\n{text}" for label, text in sorted(failures.items()))


def _body_of(kwargs: dict[str, Any]) -> bytes:
    """AutoAuth reads the pushing department from a JSON body; anything else is opaque."""
    if "json" in kwargs:
        return json.dumps(kwargs["json"]).encode()
    data = kwargs.get("data")
    return data if isinstance(data, bytes) else b""
