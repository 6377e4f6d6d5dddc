"""The client registry: who may ask for a token, with what rights.

Secrets are shown once when created or rotated and stored only as argon2id
hashes. Rotation is two steps — `rotate-secret` issues a new secret while the
old one keeps working, `complete-rotation` retires the old one — so a client can
be reconfigured without an outage.

    python -m gateway.clients add CLIENT_ID --kind department --department gxj --name 市工信局
    python -m gateway.clients rotate-secret CLIENT_ID
    python -m gateway.clients complete-rotation CLIENT_ID
    python -m gateway.clients disable CLIENT_ID
    python -m gateway.clients list
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.models import Client
from gateway.principal import PrincipalKind
from mianshen_shared.city import City

CLIENT_KINDS = frozenset(k for k in get_args(PrincipalKind) if k != "anonymous")
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "policy_editor": frozenset({"policies:edit", "operator:read"}),
    "policy_publisher": frozenset({"policies:publish", "operator:read"}),
    "payment_approver": frozenset({"payments:approve", "operator:read"}),
    "auditor": frozenset({"audit:read", "operator:read"}),
}
KIND_SCOPES: dict[str, frozenset[str]] = {
    "frontend": frozenset({"enterprises:read", "enterprises:act", "consents:manage"}),
    "department": frozenset({"records:write", "records:read"}),
    "operator": frozenset(),
    "third_party": frozenset({"eligibility:summary"}),
}
# The registry's own hasher: argon2id with the library's (RFC 9106) parameters.
_HASHER = PasswordHasher()
# Development registries hash a dozen known secrets at every start; cheaper
# parameters keep that quick. Verification reads the parameters from the hash.
_DEV_HASHER = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


class RegistryError(ValueError):
    """A client definition that cannot be registered."""


def allowed_scopes(kind: str, roles: Iterable[str]) -> frozenset[str]:
    scopes = set(KIND_SCOPES[kind])
    for role in roles:
        scopes |= ROLE_SCOPES[role]
    return frozenset(scopes)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_matches(client: Client, secret: str) -> bool:
    """The current secret, or the previous one while a rotation is in progress."""
    for stored in (client.secret_hash, client.previous_secret_hash):
        if stored is None:
            continue
        try:
            if _HASHER.verify(stored, secret):
                return True
        except (VerificationError, InvalidHashError):
            continue
    return False


def _check(
    kind: str, *, department: str | None, roles: Iterable[str], city: City | None, keys: list[dict[str, str]]
) -> None:
    if kind not in CLIENT_KINDS:
        raise RegistryError(f"kind must be one of {sorted(CLIENT_KINDS)}")
    if (kind == "department") != (department is not None):
        raise RegistryError("a department client, and only one, names its department")
    if department is not None and city is not None and department not in city.departments:
        raise RegistryError(f"department {department!r} is not in the city file")
    unknown = set(roles) - set(ROLE_SCOPES)
    if unknown or (kind != "operator" and roles):
        raise RegistryError(f"roles {sorted(unknown) or list(roles)} are not valid for a {kind} client")
    if kind == "operator" and not roles:
        raise RegistryError("an operator client needs at least one role")
    if kind == "frontend" and not keys:
        raise RegistryError("a front end needs an assertion public key")
    from gateway.tokens import load_public_key

    for key in keys:
        if not key.get("kid"):
            raise RegistryError("every assertion key needs a kid")
        load_public_key(key["public_key"])


async def find(session: AsyncSession, client_id: str) -> Client | None:
    return await session.get(Client, client_id)


async def add(
    session: AsyncSession,
    *,
    client_id: str,
    kind: str,
    name: str,
    department: str | None = None,
    roles: Iterable[str] = (),
    assertion_keys: list[dict[str, str]] | None = None,
    secret: str | None = None,
    city: City | None = None,
    hasher: PasswordHasher = _HASHER,
) -> str:
    """Register a client; returns its secret (the given one, or a new one)."""
    roles = sorted(set(roles))
    keys = assertion_keys or []
    _check(kind, department=department, roles=roles, city=city, keys=keys)
    if await find(session, client_id) is not None:
        raise RegistryError(f"client {client_id!r} already exists")
    secret = secret or new_secret()
    now = datetime.now(UTC)
    session.add(
        Client(
            client_id=client_id,
            kind=kind,
            name=name,
            department=department,
            roles=roles,
            scopes=sorted(allowed_scopes(kind, roles)),
            secret_hash=hasher.hash(secret),
            previous_secret_hash=None,
            assertion_keys=keys,
            status="active",
            created_at=now,
            updated_at=now,
            secret_rotated_at=None,
        )
    )
    return secret


async def _get(session: AsyncSession, client_id: str) -> Client:
    client = await find(session, client_id)
    if client is None:
        raise RegistryError(f"no client {client_id!r}")
    return client


async def rotate_secret(session: AsyncSession, client_id: str) -> str:
    client = await _get(session, client_id)
    secret = new_secret()
    client.previous_secret_hash = client.secret_hash
    client.secret_hash = _HASHER.hash(secret)
    client.secret_rotated_at = client.updated_at = datetime.now(UTC)
    return secret


async def complete_rotation(session: AsyncSession, client_id: str) -> None:
    client = await _get(session, client_id)
    client.previous_secret_hash = None
    client.updated_at = datetime.now(UTC)


async def disable(session: AsyncSession, client_id: str) -> None:
    client = await _get(session, client_id)
    client.status = "disabled"
    client.updated_at = datetime.now(UTC)


async def list_all(session: AsyncSession) -> list[Client]:
    return list((await session.scalars(select(Client).order_by(Client.client_id))).all())


async def load_bootstrap(sessions: async_sessionmaker[AsyncSession], path: Path, *, city: City) -> int:
    """Register the development registry's clients that are not registered yet, and
    bring their definition up to date; a secret changed in the file replaces the old."""
    document = yaml.safe_load(await asyncio.to_thread(path.read_text, encoding="utf-8")) or {}
    entries: list[dict[str, Any]] = document.get("clients", [])
    async with sessions() as session, session.begin():
        for entry in entries:
            keys = [{"kid": k["kid"], "public_key": k["public_key"]} for k in entry.get("assertion_keys", [])]
            existing = await find(session, entry["client_id"])
            if existing is None:
                await add(
                    session,
                    client_id=entry["client_id"],
                    kind=entry["kind"],
                    name=entry.get("name", entry["client_id"]),
                    department=entry.get("department"),
                    roles=entry.get("roles", []),
                    assertion_keys=keys,
                    secret=entry["secret"],
                    city=city,
                    hasher=_DEV_HASHER,
                )
                continue
            roles = sorted(set(entry.get("roles", [])))
            _check(existing.kind, department=existing.department, roles=roles, city=city, keys=keys)
            existing.roles, existing.assertion_keys = roles, keys
            existing.scopes = sorted(allowed_scopes(existing.kind, roles))
            if not secret_matches(existing, entry["secret"]):
                existing.secret_hash = _DEV_HASHER.hash(entry["secret"])
                existing.previous_secret_hash = None
    return len(entries)


# --- CLI ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.clients", description="网关客户端登记（client credentials）"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_p = sub.add_parser("add", help="登记新客户端，打印一次性密钥")
    add_p.add_argument("client_id")
    add_p.add_argument("--kind", required=True, choices=sorted(CLIENT_KINDS))
    add_p.add_argument("--name", required=True)
    add_p.add_argument("--department")
    add_p.add_argument("--role", action="append", default=[], choices=sorted(ROLE_SCOPES))
    add_p.add_argument("--assertion-key", nargs=2, action="append", default=[], metavar=("KID", "PEM_FILE"))
    for name, help_text in [
        ("rotate-secret", "签发新密钥（旧密钥在完成轮换前仍有效）"),
        ("complete-rotation", "完成轮换：旧密钥失效"),
        ("disable", "停用客户端"),
    ]:
        sub.add_parser(name, help=help_text).add_argument("client_id")
    sub.add_parser("list", help="列出客户端")
    return parser


async def run(argv: list[str], sessions: async_sessionmaker[AsyncSession], city: City) -> str:
    args = _parser().parse_args(argv)
    pems = [(kid, await asyncio.to_thread(Path(pem).read_text)) for kid, pem in getattr(args, "assertion_key", [])]
    async with sessions() as session, session.begin():
        if args.command == "add":
            keys = [{"kid": kid, "public_key": pem} for kid, pem in pems]
            secret = await add(
                session,
                client_id=args.client_id,
                kind=args.kind,
                name=args.name,
                department=args.department,
                roles=args.role,
                assertion_keys=keys,
                city=city,
            )
            return f"client_id={args.client_id}\nclient_secret={secret}\n（密钥仅显示这一次，请妥善保存）"
        if args.command == "rotate-secret":
            secret = await rotate_secret(session, args.client_id)
            return f"client_id={args.client_id}\nclient_secret={secret}\n（旧密钥在 complete-rotation 之前仍有效）"
        if args.command == "complete-rotation":
            await complete_rotation(session, args.client_id)
            return f"{args.client_id}: 旧密钥已失效"
        if args.command == "disable":
            await disable(session, args.client_id)
            return f"{args.client_id}: 已停用"
        rows = await list_all(session)
        return "\n".join(
            f"{c.client_id}\t{c.kind}\t{c.status}\t{c.department or '-'}\t{','.join(c.roles) or '-'}\t{c.name}"
            for c in rows
        )


def main(argv: list[str] | None = None) -> None:
    from gateway.config import Settings
    from mianshen_shared import city as city_config
    from mianshen_shared import db

    settings = Settings()

    async def go() -> str:
        await db.migrate("gateway.migrations", settings.database_url)
        engine = db.make_engine(settings.database_url)
        try:
            return await run(
                sys.argv[1:] if argv is None else argv, db.make_sessionmaker(engine), city_config.current()
            )
        finally:
            await engine.dispose()

    try:
        print(asyncio.run(go()))
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
