"""The audit log: every state-changing call and every read of sensitive data,
who/what/when/result, in an append-only, hash-chained table.

Chain. Record n carries `prev_hash` = hash of record n-1 (64 zeros for the first)
and `hash` = SHA-256 over the canonical JSON of all its fields including
`prev_hash` and `seq`. Sequence numbers start at 1 without gaps; the one-row
`audit_head` holds the last seq and hash. A writer's first statement increments
the head (UPDATE … RETURNING): on PostgreSQL that takes the head's row lock, the
same lock SELECT … FOR UPDATE would, so concurrent writers on any number of
replicas queue on it; on SQLite it takes the database's write lock, which a read
first would not (two readers would then race for the same seq).

When. `AuditMiddleware` holds the answer until the record of it has committed in
its own transaction, after the upstream answered. If that write fails, the caller
gets 503 `audit_unavailable` instead of the answer — for audited reads too: data
that must be audited is not handed out unaudited. A state-changing call may then
have taken effect upstream without a record; the record is logged at ERROR with
every field so it is not lost silently. Public reads (catalogue, 公示) and a few
operator aggregates without enterprise data are not audited, so they keep working
when the audit database is down.

Never recorded: bodies, tokens, secrets, assertions, bank account numbers (query
parameters named like secrets and long digit runs are redacted).

Production: run migrations as the database owner, run the app as a login role
that is only a member of `mianshen_gateway_app` (migration 0003_audit), which may
INSERT and SELECT audit_log but not UPDATE, DELETE or TRUNCATE it; a trigger
refuses those to the owner as well. Verify with `python -m gateway.audit verify`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.models import AuditHead, AuditRecord
from gateway.principal import principal_of
from mianshen_shared import db, problems
from mianshen_shared import uscc as uscc_rules

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
HEAD_ID = 1
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Reads anyone may make, or operator aggregates that name no enterprise.
UNAUDITED_READ_PREFIXES = (
    "/v1/policies",
    "/v1/notices",
    "/v1/oauth",
    "/v1/operator/policies",
    "/v1/operator/performance",
    "/v1/operator/feeds",
    "/v1/operator/reevaluations",
)
_SECRET_PARAM = re.compile(r"token|secret|password|passwd|assertion|key|signature|account|card|code_verifier", re.I)
_LONG_DIGITS = re.compile(r"\d{10,}")
REDACTED = "[redacted]"
MAX_QUERY = 1024
MAX_PATH = 512

# --- what a record is ----------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    """One audited call, before it has a place in the chain."""

    recorded_at: datetime
    client_id: str
    principal_kind: str
    actor: str
    department: str | None
    enterprise: str | None
    method: str
    route: str
    path: str
    query: str
    uscc: str | None
    status: int
    problem_code: str | None
    request_id: str
    client_ip: str | None


HASHED_FIELDS = (*AuditEntry.__dataclass_fields__, "seq", "prev_hash")


def is_audited(method: str, route: str) -> bool:
    """State-changing calls always; reads unless public or free of enterprise data."""
    if not route.startswith("/v1/"):
        return False
    if method.upper() not in SAFE_METHODS:
        return True
    return not route.startswith(UNAUDITED_READ_PREFIXES)


def safe_query(query_string: bytes | str) -> str:
    """The query as recorded: secret-looking parameters and digit runs that could be
    account numbers redacted, a valid USCC kept (it names the enterprise involved)."""
    raw = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    pairs = []
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if _SECRET_PARAM.search(key) or (_LONG_DIGITS.search(value) and not uscc_rules.is_valid(value)):
            value = REDACTED
        pairs.append((key, value))
    return urlencode(pairs)[:MAX_QUERY]


def _timestamp(value: datetime) -> str:
    # SQLite hands back naive datetimes; everything stored here is UTC.
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(fields: dict[str, Any]) -> bytes:
    normalised = {k: _timestamp(v) if isinstance(v, datetime) else v for k, v in fields.items()}
    return json.dumps(normalised, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(fields: dict[str, Any]) -> str:
    """The record's hash over every hashed field, `seq` and `prev_hash` included."""
    return hashlib.sha256(canonical({name: fields[name] for name in HASHED_FIELDS})).hexdigest()


def hashed_fields(record: AuditRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in HASHED_FIELDS}


# --- writing: the chain ----------------------------------------------------------------


async def append(session: AsyncSession, entry: AuditEntry) -> AuditRecord:
    """Add `entry` at the end of the chain. The caller commits; until then the head
    stays locked, so keep the transaction to this call."""
    head = (
        await session.execute(
            sa.update(AuditHead)
            .where(AuditHead.id == HEAD_ID)
            .values(seq=AuditHead.seq + 1)
            .returning(AuditHead.seq, AuditHead.hash)
        )
    ).one_or_none()
    if head is None:
        raise RuntimeError("audit_head has no row: run the gateway's migrations")
    seq, prev_hash = head
    fields = {**asdict(entry), "seq": seq, "prev_hash": prev_hash}
    record = AuditRecord(**fields, hash=chain_hash(fields))
    session.add(record)
    await session.flush()
    await session.execute(sa.update(AuditHead).where(AuditHead.id == HEAD_ID).values(hash=record.hash))
    return record


async def record(sessions: async_sessionmaker[AsyncSession], entry: AuditEntry) -> AuditRecord:
    """Append `entry` in its own transaction and commit it."""
    async with sessions() as session, session.begin():
        return await append(session, entry)


# --- reading ---------------------------------------------------------------------------


async def search(
    session: AsyncSession,
    *,
    recorded_from: datetime | None = None,
    recorded_to: datetime | None = None,
    client_id: str | None = None,
    after_seq: int | None = None,
    limit: int = 50,
) -> list[AuditRecord]:
    """Records in chain order, filtered; `after_seq` pages on from the last one seen."""
    query = sa.select(AuditRecord).order_by(AuditRecord.seq).limit(limit)
    # SQLite compares stored UTC wall times as text: bounds must be UTC as well.
    if recorded_from is not None:
        query = query.where(AuditRecord.recorded_at >= recorded_from.astimezone(UTC))
    if recorded_to is not None:
        query = query.where(AuditRecord.recorded_at < recorded_to.astimezone(UTC))
    if client_id is not None:
        query = query.where(AuditRecord.client_id == client_id)
    if after_seq is not None:
        query = query.where(AuditRecord.seq > after_seq)
    return list((await session.scalars(query)).all())


def readable(record: AuditRecord) -> dict[str, Any]:
    """A record's fields for an answer, its time UTC-aware on either database."""
    fields = {**hashed_fields(record), "hash": record.hash}
    fields["recorded_at"] = datetime.fromisoformat(_timestamp(record.recorded_at))
    return fields


# --- verifying -------------------------------------------------------------------------

BreakKind = Literal["hash_mismatch", "prev_link", "sequence_gap", "head_mismatch"]


@dataclass(frozen=True)
class ChainBreak:
    seq: int  # the first record that is wrong, or the first one missing
    kind: BreakKind
    detail: str


@dataclass(frozen=True)
class Verification:
    checked: int
    broken: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.broken is None


async def verify(session: AsyncSession, *, batch: int = 1000) -> Verification:
    """Walk the chain from the first record and stop at the first fault."""
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    while True:
        rows = (
            await session.scalars(
                sa.select(AuditRecord).where(AuditRecord.seq >= expected_seq).order_by(AuditRecord.seq).limit(batch)
            )
        ).all()
        for row in rows:
            fault = _check(row, expected_seq, prev_hash)
            if fault is not None:
                return Verification(checked, fault)
            expected_seq, prev_hash, checked = row.seq + 1, row.hash, checked + 1
        if len(rows) < batch:
            break
    head = await session.get(AuditHead, HEAD_ID)
    last_seq = expected_seq - 1
    if head is None:
        return Verification(checked, ChainBreak(last_seq + 1, "head_mismatch", "audit_head 行缺失"))
    if head.seq > last_seq:
        detail = f"第{last_seq + 1}至{head.seq}条记录缺失（链尾被删除）"
        return Verification(checked, ChainBreak(last_seq + 1, "sequence_gap", detail))
    if head.seq != last_seq or head.hash != prev_hash:
        detail = f"链头（seq={head.seq}）与最后一条记录（seq={last_seq}）不一致"
        return Verification(checked, ChainBreak(last_seq, "head_mismatch", detail))
    return Verification(checked, None)


def _check(row: AuditRecord, expected_seq: int, prev_hash: str) -> ChainBreak | None:
    if row.seq != expected_seq:
        missing = f"{expected_seq}" if row.seq == expected_seq + 1 else f"{expected_seq}至{row.seq - 1}"
        return ChainBreak(expected_seq, "sequence_gap", f"第{missing}条记录缺失（下一条为第{row.seq}条）")
    if chain_hash(hashed_fields(row)) != row.hash:
        return ChainBreak(row.seq, "hash_mismatch", f"第{row.seq}条记录的内容与其哈希不符（记录被修改）")
    if row.prev_hash != prev_hash:
        return ChainBreak(row.seq, "prev_link", f"第{row.seq}条记录的 prev_hash 与第{row.seq - 1}条记录的哈希不符")
    return None


# --- recording every audited call --------------------------------------------------------


class AuditMiddleware:
    """Holds an audited call's answer until its record committed (see the module
    docstring). Sits inside the request context, so the request id is known, and
    outside the routes, so it sees the status and problem code they produced."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        problem_body = bytearray()
        audited: bool | None = None  # decided at the first message of the answer
        refused = False  # the record failed and 503 went out instead: drop the rest

        async def hold(message: Message) -> None:
            nonlocal held, audited, refused
            if refused:
                return
            if message["type"] == "http.response.start":
                audited = is_audited(scope["method"], _route(scope))
                if not audited:
                    await send(message)
                    return
                held = message
                if not _is_problem(message):
                    refused = not await self._release(scope, receive, send, message, None)
                    held = None
                return
            if held is None:
                await send(message)
                return
            # Problem answers are small: buffer one to read its code for the record.
            problem_body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                body = bytes(problem_body)
                if await self._release(scope, receive, send, held, _problem_code(body)):
                    await send({"type": "http.response.body", "body": body})
                held = None

        try:
            await self.app(scope, receive, hold)
        except Exception:
            # Starlette's outermost layer turns this into a 500 after we return.
            if audited is None and is_audited(scope["method"], _route(scope)):
                try:
                    await self._write(scope, 500, "internal_error")
                except Exception:
                    log.exception("audit record of a failed request could not be written")
            raise

    async def _release(
        self, scope: Scope, receive: Receive, send: Send, start: Message, problem_code: str | None
    ) -> bool:
        """Record the answer, then let it go; if the record cannot be written send
        503 instead and return False."""
        try:
            await self._write(scope, start["status"], problem_code)
        except Exception:
            refusal = problems.problem(
                503, "audit_unavailable", "审计日志暂不可用，请求未能完成记录，请稍后重试", request=Request(scope)
            )
            await refusal(scope, receive, send)
            return False
        await send(start)
        return True

    async def _write(self, scope: Scope, status: int, problem_code: str | None) -> None:
        entry = entry_for(scope, status, problem_code)
        try:
            sessions = scope["app"].state.gateway.sessions
            if sessions is None:
                raise RuntimeError("the gateway's database is not open")
            await record(sessions, entry)
        except Exception:
            log.exception("audit record not written: %s", json.dumps(asdict(entry), default=str, ensure_ascii=False))
            raise


def entry_for(scope: Scope, status: int, problem_code: str | None) -> AuditEntry:
    request = Request(scope)
    principal = principal_of(request)
    path_uscc = scope.get("path_params", {}).get("uscc")
    query_uscc = request.query_params.get("uscc")
    uscc = path_uscc or (query_uscc if query_uscc and uscc_rules.is_valid(query_uscc) else None) or principal.enterprise
    return AuditEntry(
        recorded_at=datetime.now(UTC),
        client_id=principal.client_id[:128],
        principal_kind=principal.kind,
        actor=principal.actor[:256],
        department=principal.department,
        enterprise=principal.enterprise,
        method=scope["method"],
        route=_route(scope)[:256],
        path=scope["path"][:MAX_PATH],
        query=safe_query(scope.get("query_string", b"")),
        uscc=str(uscc)[:18] if uscc else None,
        status=status,
        problem_code=problem_code,
        request_id=str(getattr(request.state, "request_id", ""))[:128],
        client_ip=scope["client"][0][:64] if scope.get("client") else None,
    )


def _route(scope: Scope) -> str:
    return str(getattr(scope.get("route"), "path", ""))


def _is_problem(start: Message) -> bool:
    content_type = Headers(raw=start.get("headers", [])).get("content-type", "")
    return content_type.startswith(problems.PROBLEM_JSON)


def _problem_code(body: bytes) -> str | None:
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return str(code)[:64] if code else None


# --- the command line ------------------------------------------------------------------


async def verify_database(url: str) -> Verification:
    engine = db.make_engine(url)
    try:
        async with db.make_sessionmaker(engine)() as session:
            return await verify(session)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.audit", description="审计日志哈希链校验")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="校验整条哈希链，指出第一条被破坏的记录")
    check.add_argument("--database-url", help="默认取网关配置（MIANSHEN_DATABASE_URL）")
    args = parser.parse_args(argv)
    url = args.database_url
    if url is None:
        from gateway.config import Settings

        url = Settings().database_url
    result = asyncio.run(verify_database(url))
    if result.broken is None:
        print(f"audit chain intact: {result.checked} records")
        return 0
    broken = result.broken
    print(f"audit chain broken at record {broken.seq}: {broken.kind} — {broken.detail}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
