"""The audit log: every state-changing call and every read of sensitive data,
who/what/when/result, in an append-only, hash-chained table.

Chain. Record n carries `prev_hash` = hash of record n-1 (64 zeros for the first)
and `hash` = HMAC-SHA256 under the audit key `key_id` over the canonical JSON of
all its fields including `prev_hash`, `seq` and `key_id`. The key (ring
`MIANSHEN_AUDIT_KEYS`, the first one signs, every one verifies) lives with the
gateway and the verifier, not in the database: whoever can write the database
but does not hold the key cannot add, edit or re-chain records that verify.
Records from before keyed chains (key_id NULL, plain SHA-256) verify only as a
prefix. Sequence numbers start at 1 without gaps; the one-row `audit_head` holds
the last seq and hash. A writer's first statement increments the head (UPDATE …
RETURNING): on PostgreSQL that takes the head's row lock, the same lock SELECT …
FOR UPDATE would, so concurrent writers on any number of replicas queue on it; on
SQLite it takes the database's write lock, which a read first would not (two
readers would then race for the same seq).

Group commit. Every audited call waits for its own record, but the calls of one
process that arrive while a transaction is in flight share the next one
(`ChainWriter`): one head update and one commit for all of them. Under load the
cost of the head lock is paid per batch, not per request.

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
import base64
import hashlib
import hmac
import json
import logging
import os
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
from mianshen_shared.sealing import SealingError, parse_key_ring

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


LEGACY_FIELDS = (*AuditEntry.__dataclass_fields__, "seq", "prev_hash")
HASHED_FIELDS = (*LEGACY_FIELDS, "key_id")
# Only for development and tests: a fixed, published key, refused in production.
DEVELOPMENT_AUDIT_KEYS = "dev:" + base64.b64encode(b"mianshen-audit-development-key!!").decode()


class AuditKeyError(ValueError):
    pass


@dataclass(frozen=True)
class AuditKeys:
    """The audit key ring: the first key signs new records, every key verifies."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def from_config(cls, ring: str, *, environment: str = "development") -> AuditKeys:
        if not ring:
            if environment == "production":
                raise AuditKeyError("MIANSHEN_AUDIT_KEYS must be set in production")
            ring = DEVELOPMENT_AUDIT_KEYS
        elif environment == "production" and ring == DEVELOPMENT_AUDIT_KEYS:
            raise AuditKeyError("the development audit key must not be used in production")
        try:
            return cls(parse_key_ring(ring))
        except SealingError as exc:
            raise AuditKeyError(f"MIANSHEN_AUDIT_KEYS: {exc}") from exc

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    def key(self, key_id: str) -> bytes | None:
        return next((key for kid, key in self.keys if kid == key_id), None)


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


def chain_hash(fields: dict[str, Any], keys: AuditKeys) -> str:
    """The record's hash over every hashed field, `seq` and `prev_hash` included:
    an HMAC under its `key_id`, or plain SHA-256 for a record from before keys."""
    key_id = fields.get("key_id")
    if key_id is None:
        return hashlib.sha256(canonical({name: fields[name] for name in LEGACY_FIELDS})).hexdigest()
    key = keys.key(key_id)
    if key is None:
        raise AuditKeyError(f"audit key {key_id!r} is not in the ring")
    message = canonical({name: fields[name] for name in HASHED_FIELDS})
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def hashed_fields(record: AuditRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in HASHED_FIELDS}


# --- writing: the chain ----------------------------------------------------------------


async def append(session: AsyncSession, entries: Sequence[AuditEntry], keys: AuditKeys) -> list[AuditRecord]:
    """Add `entries` at the end of the chain, in order. The caller commits; until
    then the head stays locked, so keep the transaction to this call."""
    head = (
        await session.execute(
            sa.update(AuditHead)
            .where(AuditHead.id == HEAD_ID)
            .values(seq=AuditHead.seq + len(entries))
            .returning(AuditHead.seq, AuditHead.hash)
        )
    ).one_or_none()
    if head is None:
        raise RuntimeError("audit_head has no row: run the gateway's migrations")
    last_seq, prev_hash = head
    records = []
    for seq, entry in enumerate(entries, start=last_seq - len(entries) + 1):
        fields = {**asdict(entry), "seq": seq, "prev_hash": prev_hash, "key_id": keys.current_id}
        record = AuditRecord(**fields, hash=chain_hash(fields, keys))
        records.append(record)
        prev_hash = record.hash
    session.add_all(records)
    await session.flush()
    await session.execute(sa.update(AuditHead).where(AuditHead.id == HEAD_ID).values(hash=prev_hash))
    return records


class ChainWriter:
    """Group commit for one process: `write` returns once the entry's record has
    committed. Whoever holds the lock commits everything that is waiting, up to
    `max_batch`; the others find their record already written when they get it."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], keys: AuditKeys, *, max_batch: int = 200) -> None:
        self.sessions = sessions
        self.keys = keys
        self.max_batch = max_batch
        self._waiting: list[tuple[AuditEntry, asyncio.Future[AuditRecord]]] = []
        self._lock = asyncio.Lock()

    async def write(self, entry: AuditEntry) -> AuditRecord:
        done: asyncio.Future[AuditRecord] = asyncio.get_running_loop().create_future()
        self._waiting.append((entry, done))
        while not done.done():
            async with self._lock:
                if done.done():
                    break
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                # A caller that goes away (client disconnect) must not cut the
                # transaction short for the others in its batch.
                await asyncio.shield(self._commit(batch))
        return await done

    async def _commit(self, batch: list[tuple[AuditEntry, asyncio.Future[AuditRecord]]]) -> None:
        try:
            async with self.sessions() as session, session.begin():
                records = await append(session, [entry for entry, _ in batch], self.keys)
        except Exception as exc:
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        for (_, done), written in zip(batch, records, strict=True):
            if not done.done():
                done.set_result(written)


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

BreakKind = Literal[
    "hash_mismatch",
    "prev_link",
    "sequence_gap",
    "head_mismatch",
    "unkeyed",
    "unknown_key",
    "anchor_mismatch",
    "anchor_missing",
]


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


@dataclass(frozen=True)
class Anchor:
    """A chain head noted outside the database: record `seq` had hash `hash`."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        seq, sep, digest = text.partition(":")
        if not sep or not seq.isdigit() or int(seq) < 1 or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"anchor {text!r} is not <seq>:<64 hex digits>")
        return cls(int(seq), digest)


async def verify(
    session: AsyncSession, keys: AuditKeys, *, anchors: Sequence[Anchor] = (), batch: int = 1000
) -> Verification:
    """Walk the chain from the first record and stop at the first fault. Each anchor
    must still be in it with the same hash: that catches what the key cannot, a
    chain cut back to an earlier record with the head moved back too."""
    expected = {a.seq: a.hash for a in anchors}
    expected_seq, prev_hash, checked, keyed = 1, GENESIS_HASH, 0, False
    while True:
        rows = (
            await session.scalars(
                sa.select(AuditRecord).where(AuditRecord.seq >= expected_seq).order_by(AuditRecord.seq).limit(batch)
            )
        ).all()
        for row in rows:
            fault = _check(row, expected_seq, prev_hash, keys, keyed_before=keyed)
            if fault is None and row.seq in expected and expected[row.seq] != row.hash:
                detail = f"第{row.seq}条记录的哈希与外部留存的锚点不一致（链被重写）"
                fault = ChainBreak(row.seq, "anchor_mismatch", detail)
            if fault is not None:
                return Verification(checked, fault)
            expected_seq, prev_hash, checked = row.seq + 1, row.hash, checked + 1
            keyed = keyed or row.key_id is not None
        if len(rows) < batch:
            break
    head = await session.get(AuditHead, HEAD_ID)
    last_seq = expected_seq - 1
    if expected and max(expected) > last_seq:
        detail = f"外部锚点记到第{max(expected)}条，链只到第{last_seq}条（链尾被截去）"
        return Verification(checked, ChainBreak(last_seq + 1, "anchor_missing", detail))
    if head is None:
        return Verification(checked, ChainBreak(last_seq + 1, "head_mismatch", "audit_head 行缺失"))
    if head.seq > last_seq:
        detail = f"第{last_seq + 1}至{head.seq}条记录缺失（链尾被删除）"
        return Verification(checked, ChainBreak(last_seq + 1, "sequence_gap", detail))
    if head.seq != last_seq or head.hash != prev_hash:
        detail = f"链头（seq={head.seq}）与最后一条记录（seq={last_seq}）不一致"
        return Verification(checked, ChainBreak(last_seq, "head_mismatch", detail))
    return Verification(checked, None)


def _check(
    row: AuditRecord, expected_seq: int, prev_hash: str, keys: AuditKeys, *, keyed_before: bool
) -> ChainBreak | None:
    if row.seq != expected_seq:
        missing = f"{expected_seq}" if row.seq == expected_seq + 1 else f"{expected_seq}至{row.seq - 1}"
        return ChainBreak(expected_seq, "sequence_gap", f"第{missing}条记录缺失（下一条为第{row.seq}条）")
    if row.key_id is None and keyed_before:
        detail = f"第{row.seq}条记录没有审计密钥签名，却排在已签名的记录之后（伪造或降级）"
        return ChainBreak(row.seq, "unkeyed", detail)
    if row.key_id is not None and keys.key(row.key_id) is None:
        detail = f"第{row.seq}条记录的审计密钥“{row.key_id}”不在密钥环中，无法校验"
        return ChainBreak(row.seq, "unknown_key", detail)
    if not hmac.compare_digest(chain_hash(hashed_fields(row), keys), row.hash):
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
            writer = scope["app"].state.gateway.audit
            if writer is None:
                raise RuntimeError("the gateway's database is not open")
            await writer.write(entry)
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


async def verify_database(url: str, keys: AuditKeys, anchors: Sequence[Anchor] = ()) -> Verification:
    engine = db.make_engine(url)
    try:
        async with db.make_sessionmaker(engine)() as session:
            return await verify(session, keys, anchors=anchors)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.audit", description="审计日志哈希链校验")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="校验整条哈希链，指出第一条被破坏的记录")
    check.add_argument("--database-url", help="默认取网关配置（MIANSHEN_DATABASE_URL）")
    check.add_argument(
        "--anchor",
        action="append",
        default=[],
        type=_anchor,
        metavar="SEQ:HASH",
        help="网关日志中留存的链头（audit_anchor），可多次给出；校验链仍包含它们",
    )
    args = parser.parse_args(argv)
    url = args.database_url
    if url is None:
        from gateway.config import Settings

        url = Settings().database_url
    # The key ring comes from the environment, as the gateway's does, never from the database.
    try:
        keys = AuditKeys.from_config(
            os.environ.get("MIANSHEN_AUDIT_KEYS", ""), environment=os.environ.get("MIANSHEN_ENVIRONMENT", "development")
        )
    except AuditKeyError as exc:
        print(f"审计密钥配置有误：{exc}", file=sys.stderr)
        return 2
    result = asyncio.run(verify_database(url, keys, args.anchor))
    if result.broken is None:
        print(f"audit chain intact: {result.checked} records")
        return 0
    broken = result.broken
    print(f"audit chain broken at record {broken.seq}: {broken.kind} — {broken.detail}")
    return 1


def _anchor(text: str) -> Anchor:
    try:
        return Anchor.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


# --- anchoring outside the database ------------------------------------------------------


async def current_head(sessions: async_sessionmaker[AsyncSession]) -> Anchor | None:
    async with sessions() as session:
        head = await session.get(AuditHead, HEAD_ID)
    return Anchor(head.seq, head.hash) if head is not None and head.seq > 0 else None


async def log_anchors(sessions: async_sessionmaker[AsyncSession], interval: float) -> None:
    """Every `interval` seconds, log the chain head when it moved: the log system keeps
    it away from the database, and `verify --anchor SEQ:HASH` proves the chain still
    holds it."""
    last: Anchor | None = None
    while True:
        try:
            head = await current_head(sessions)
        except Exception:
            log.exception("audit chain head could not be read for its anchor")
        else:
            if head is not None and head != last:
                log.info("audit_anchor %d:%s", head.seq, head.hash, extra={"audit_anchor": f"{head.seq}:{head.hash}"})
                last = head
        await asyncio.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
