"""The published contract says how to authenticate: an OAuth2 client-credentials
scheme with every scope, the enterprise assertion header, and on each operation
the scope its audience needs (public operations need none)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.clients import KIND_SCOPES, ROLE_SCOPES

from .harness import Harness

pytestmark = pytest.mark.unit


async def _spec(gw: Harness) -> dict[str, Any]:
    response = await gw.bare.get("/openapi.json")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _security(spec: dict[str, Any], method: str, path: str) -> Any:
    return spec["paths"][path][method.lower()].get("security")


async def test_the_client_credentials_flow_names_the_token_endpoint_and_every_scope(gw: Harness) -> None:
    schemes = (await _spec(gw))["components"]["securitySchemes"]
    flow = schemes["oauth2"]["flows"]["clientCredentials"]
    assert schemes["oauth2"]["type"] == "oauth2"
    assert flow["tokenUrl"] == "/v1/oauth/token"
    assert set(flow["scopes"]) == set().union(*KIND_SCOPES.values(), *ROLE_SCOPES.values())
    assert all(description != scope for scope, description in flow["scopes"].items())


async def test_the_enterprise_assertion_is_an_api_key_header(gw: Harness) -> None:
    scheme = (await _spec(gw))["components"]["securitySchemes"]["enterpriseAssertion"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-Enterprise-Assertion"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/policies"),
        ("GET", "/v1/policies/{policy_id}/guide"),
        ("GET", "/v1/notices"),
        ("POST", "/v1/notices/{payment_id}/objections"),
        ("POST", "/v1/oauth/token"),
    ],
)
async def test_public_operations_ask_for_no_credentials(gw: Harness, method: str, path: str) -> None:
    assert _security(await _spec(gw), method, path) == []


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/v1/data-events", [{"oauth2": ["records:write"]}]),
        ("GET", "/v1/departments/{department}/instructions", [{"oauth2": ["records:read"]}]),
        (
            "POST",
            "/v1/enterprises/{uscc}/confirmations/{confirmation_id}/accept",
            [{"oauth2": ["enterprises:act"], "enterpriseAssertion": []}],
        ),
        (
            "GET",
            "/v1/enterprises/{uscc}/entitlements",
            [{"oauth2": ["enterprises:read"], "enterpriseAssertion": []}, {"oauth2": ["operator:read"]}],
        ),
        (
            "POST",
            "/v1/enterprises/{uscc}/consents",
            [{"oauth2": ["consents:manage"], "enterpriseAssertion": []}],
        ),
        ("POST", "/v1/operator/policies/{policy_id}/versions/{version}/publish", [{"oauth2": ["policies:publish"]}]),
        ("PUT", "/v1/operator/budgets/{policy_id}/{year}", [{"oauth2": ["payments:approve"]}]),
        ("GET", "/v1/operator/budgets", [{"oauth2": ["operator:read"]}]),
        ("GET", "/v1/operator/audit", [{"oauth2": ["audit:read"]}]),
        ("GET", "/v1/third-party/enterprises/{uscc}/eligibility-summary", [{"oauth2": ["eligibility:summary"]}]),
    ],
)
async def test_each_operation_asks_for_the_scope_its_audience_needs(
    gw: Harness, method: str, path: str, expected: list[dict[str, list[str]]]
) -> None:
    assert _security(await _spec(gw), method, path) == expected


async def test_every_v1_operation_declares_its_security(gw: Harness) -> None:
    spec = await _spec(gw)
    undeclared = [
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        if path.startswith("/v1/")
        for method, operation in item.items()
        if "security" not in operation
    ]
    assert undeclared == []


async def test_only_declared_schemes_and_scopes_are_required(gw: Harness) -> None:
    spec = await _spec(gw)
    schemes = spec["components"]["securitySchemes"]
    scopes = set(schemes["oauth2"]["flows"]["clientCredentials"]["scopes"])
    for item in spec["paths"].values():
        for operation in item.values():
            for requirement in operation.get("security", []):
                assert set(requirement) <= set(schemes)
                assert set(requirement.get("oauth2", [])) <= scopes
