"""Authenticating test and development callers against the gateway.

`ClientAuth` is an httpx Auth for one registered client of the development
registry (config/clients/development.yaml): it fetches a token from
/v1/oauth/token through the same client, caches it until shortly before expiry,
and for a front end signs an enterprise assertion for the enterprise it acts for.
`AutoAuth` picks the client from the request — the front end for
/v1/enterprises/{uscc}/…, the pushing department for /v1/data-events, an operator
whose role covers the call, the third-party app — which is what stacks and tests
that exercise every route want:

    registry = load_registry()
    async with AsyncClient(base_url=gateway_url, auth=AutoAuth(registry)) as client: ...
    ClientAuth(registry["qinqing"], enterprise="91410100…")   # one front end, one enterprise
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.access import ASSERTION_HEADER, ROUTE_SCOPES
from gateway.clients import allowed_scopes
from gateway.tokens import sign_assertion
from mianshen_shared import uscc as uscc_rules
from mianshen_shared.config import REPO_ROOT

DEVELOPMENT_CLIENTS_FILE = REPO_ROOT / "config" / "clients" / "development.yaml"
TOKEN_PATH = "/v1/oauth/token"
# A valid code to sign for when the path's own code is malformed, so the route
# (not authentication) explains what is wrong with it.
_PLACEHOLDER_USCC = "91410105MAH5DHGYXC"


@dataclass(frozen=True)
class DevClient:
    client_id: str
    kind: str
    secret: str
    department: str | None = None
    roles: tuple[str, ...] = ()
    assertion_kid: str | None = None
    assertion_key: Ed25519PrivateKey | None = None

    @property
    def scopes(self) -> frozenset[str]:
        return allowed_scopes(self.kind, self.roles)


def load_registry(path: Path = DEVELOPMENT_CLIENTS_FILE) -> dict[str, DevClient]:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    registry = {}
    for entry in document.get("clients", []):
        kid, key = None, None
        for k in entry.get("assertion_keys", []):
            if "private_key" in k:
                loaded = serialization.load_pem_private_key(k["private_key"].encode(), password=None)
                assert isinstance(loaded, Ed25519PrivateKey)
                kid, key = k["kid"], loaded
                break
        registry[entry["client_id"]] = DevClient(
            client_id=entry["client_id"],
            kind=entry["kind"],
            secret=entry["secret"],
            department=entry.get("department"),
            roles=tuple(entry.get("roles", [])),
            assertion_kid=kid,
            assertion_key=key,
        )
    return registry


class _Tokens:
    """Access tokens per client, refreshed a little before they expire."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[str, float]] = {}

    def cached(self, client_id: str) -> str | None:
        token, expires = self._cache.get(client_id, ("", 0.0))
        return token if token and expires - 30 > time.monotonic() else None

    def fetch(self, client: DevClient, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, str]:
        token = self.cached(client.client_id)
        if token is not None:
            return token
        token_request = httpx.Request(
            "POST",
            request.url.copy_with(path=TOKEN_PATH, query=None),
            data={"grant_type": "client_credentials"},
        )
        basic = httpx.BasicAuth(client.client_id, client.secret)
        token_request = next(basic.auth_flow(token_request))
        response = yield token_request
        if response.status_code != 200:
            raise RuntimeError(f"token for {client.client_id} refused: {response.status_code} {response.text}")
        body: dict[str, Any] = json.loads(response.content)
        self._cache[client.client_id] = (body["access_token"], time.monotonic() + int(body["expires_in"]))
        return str(body["access_token"])

    def forget(self, client_id: str) -> None:
        self._cache.pop(client_id, None)


def _sign_for(client: DevClient, request: httpx.Request, uscc: str, user: str) -> None:
    assert client.assertion_key is not None, f"{client.client_id} has no assertion key in the registry"
    request.headers[ASSERTION_HEADER] = sign_assertion(
        client.assertion_key, frontend=client.client_id, uscc=uscc, user=user, kid=client.assertion_kid
    )


class ClientAuth(httpx.Auth):
    """One client's credentials; a front end also signs for `enterprise` (or, left
    out, for the USCC in each request's path)."""

    requires_response_body = True

    def __init__(self, client: DevClient, *, enterprise: str | None = None, user: str = "test-user") -> None:
        self.client, self.enterprise, self.user = client, enterprise, user
        self._tokens = _Tokens()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = yield from self._tokens.fetch(self.client, request)
        request.headers["Authorization"] = f"Bearer {token}"
        if self.client.kind == "frontend":
            uscc = self.enterprise or _path_uscc(request.url.path)
            if uscc is not None:
                _sign_for(self.client, request, uscc, self.user)
        yield request


def _path_uscc(path: str) -> str | None:
    m = re.match(r"^/v1/(?:third-party/)?enterprises/([^/]+)", path)
    if m is None:
        return None
    return m.group(1) if uscc_rules.is_valid(m.group(1)) else _PLACEHOLDER_USCC


_SCOPED_ROUTES = [
    (method, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), scope)
    for (method, path), scope in ROUTE_SCOPES.items()
]


class AutoAuth(httpx.Auth):
    """Authenticates each request as the registered client the route is meant for."""

    requires_response_body = True

    def __init__(self, registry: dict[str, DevClient], *, frontend: str = "qinqing", user: str = "test-user") -> None:
        self.registry, self.frontend, self.user = registry, frontend, user
        self._tokens = _Tokens()

    def choose(self, request: httpx.Request) -> DevClient | None:
        path = request.url.path
        if path.startswith("/v1/enterprises/"):
            return self.registry[self.frontend]
        if path.startswith("/v1/third-party/"):
            return self._first(lambda c: c.kind == "third_party")
        if path.startswith("/v1/operator/"):
            named = self.registry.get(request.headers.get("x-actor", ""))
            if named is not None and named.kind == "operator":
                return named
            needed = next((s for m, rx, s in _SCOPED_ROUTES if m == request.method and rx.match(path)), "operator:read")
            return self._first(lambda c: c.kind == "operator" and needed in c.scopes)
        if path.startswith("/v1/departments/") or path == "/v1/data-events":
            wanted = path.split("/")[3] if path.startswith("/v1/departments/") else _pushing_department(request)
            return self._first(lambda c: c.kind == "department" and c.department == wanted) or self._first(
                lambda c: c.kind == "department"
            )
        return None

    def _first(self, wanted: Any) -> DevClient | None:
        return next((c for c in self.registry.values() if wanted(c)), None)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        client = self.choose(request)
        if client is not None:
            token = yield from self._tokens.fetch(client, request)
            request.headers["Authorization"] = f"Bearer {token}"
            uscc = _path_uscc(request.url.path) if client.kind == "frontend" else None
            if uscc is not None:
                _sign_for(client, request, uscc, self.user)
        yield request


def _pushing_department(request: httpx.Request) -> str | None:
    try:
        body = json.loads(request.content)
        department = body["records"][0]["department"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return department if isinstance(department, str) else None
