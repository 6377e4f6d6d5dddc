"""The audit log on the embedded database: what is recorded for whom, the hash
chain and its verifier, the auditor's route, and what happens when the log
cannot be written."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
import sqlalchemy as sa
from httpx import ASGITransport, AsyncClient

from gateway import audit
from gateway.models import AuditRecord
from gateway.testing import ClientAuth
from mianshen_shared import testing

from .factories import audit_entry
from .fakes import ok, problem
from .harness import Harness, assert_problem

pytestmark = pytest.mark.unit
USCC = testing.make_uscc()
CONFIRMATION = uuid.uuid4()
CONFIRMATION_SVC = "http://127.0.0.1:8003"
ENTITLEMENTS = f"/v1/enterprises/{USCC}/entitlements"
DECLINE = f"/v1/enterprises/{USCC}/confirmations/{CONFIRMATION}/decline"
TOKEN_ROUTE = "/v1/oauth/token"


async def chain(gw: Harness) -> list[AuditRecord]:
    async with gw.app.state.gateway.sessions() as session:
        return list((await session.scalars(sa.select(AuditRecord).order_by(AuditRecord.seq))).all())


async def calls(gw: Harness) -> list[AuditRecord]:
    """The audited calls a test made, without the token requests made on its behalf."""
    return [r for r in await chain(gw) if r.route != TOKEN_ROUTE]


def keys(gw: Harness) -> audit.AuditKeys:
    return gw.app.state.gateway.audit.keys  # type: ignore[no-any-return]


async def verify(gw: Harness) -> audit.Verification:
    async with gw.app.state.gateway.sessions() as session:
        return await audit.verify(session, keys(gw))


async def execute(gw: Harness, statement: str) -> None:
    async with gw.app.state.gateway.sessions() as session, session.begin():
        await session.execute(sa.text(statement))


def database_url(gw: Harness) -> str:
    return gw.settings.database_url


def auditor(gw: Harness) -> AsyncClient:
    return AsyncClient(
        transport=ASGITransport(app=gw.app), base_url="http://gateway", auth=ClientAuth(gw.registry["auditor.sun"])
    )


# --- what is recorded ------------------------------------------------------------------


async def test_a_state_changing_call_is_recorded_with_who_what_when_and_result(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/confirmations/{CONFIRMATION}/decline", ok({}))
    before = datetime.now(UTC)
    r = await gw.client.post(DECLINE, json={"reason": "企业已申请同类资金"}, headers={"X-Request-ID": "req-decline-1"})
    assert r.status_code == 200, r.text

    (record,) = await calls(gw)
    assert (record.client_id, record.principal_kind, record.actor) == ("qinqing", "frontend", "qinqing:test-user")
    assert record.enterprise == USCC and record.uscc == USCC
    assert (record.method, record.route, record.path) == (
        "POST",
        "/v1/enterprises/{uscc}/confirmations/{confirmation_id}/decline",
        DECLINE,
    )
    assert (record.status, record.problem_code) == (200, None)
    assert record.request_id == "req-decline-1" == r.headers["x-request-id"]
    assert record.client_ip == "127.0.0.1"
    assert before <= audit.readable(record)["recorded_at"] <= datetime.now(UTC)


async def test_a_sensitive_read_is_recorded_and_a_public_read_is_not(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/entitlements", ok({"items": []}))
    gw.services.reply("http://127.0.0.1:8001", "/policies", ok({"items": []}))

    assert (await gw.client.get(ENTITLEMENTS)).status_code == 200
    assert (await gw.client.get("/v1/policies")).status_code == 200

    assert [(r.method, r.route) for r in await calls(gw)] == [("GET", "/v1/enterprises/{uscc}/entitlements")]


async def test_a_refused_call_is_recorded_with_its_problem_code_and_no_principal(gw: Harness) -> None:
    assert gw.bare is not None
    r = await gw.bare.post(DECLINE, json={"reason": "不需要"})
    assert r.status_code == 401

    (record,) = await calls(gw)
    assert (record.client_id, record.principal_kind) == ("anonymous", "anonymous")
    assert (record.status, record.problem_code) == (401, r.json()["code"])


async def test_an_upstream_refusal_is_recorded_with_the_service_s_code(gw: Harness) -> None:
    upstream = problem(409, "already_answered", "该意愿确认已答复")
    gw.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/confirmations/{CONFIRMATION}/decline", upstream)
    r = await gw.client.post(DECLINE, json={"reason": "不需要"})
    assert r.status_code == 409 and r.content == upstream.content

    (record,) = await calls(gw)
    assert (record.status, record.problem_code) == (409, "already_answered")


async def test_query_secrets_and_account_numbers_are_left_out_of_the_record(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/entitlements", ok({"items": []}))
    r = await gw.client.get(ENTITLEMENTS, params={"access_token": "eyJabc", "note": "6222021234567890123", "n": "5"})
    assert r.status_code in (200, 422), r.text

    (record,) = await calls(gw)
    assert "eyJabc" not in record.query and "6222021234567890123" not in record.query
    assert record.query == "access_token=%5Bredacted%5D&note=%5Bredacted%5D&n=5"


@pytest.mark.parametrize(
    ("forwarded_for", "recorded"),
    [
        ("203.0.113.9", "203.0.113.9"),
        # Whatever the caller wrote before the proxy's own entry is the caller's claim.
        ("198.51.100.1, 203.0.113.9", "203.0.113.9"),
    ],
)
async def test_behind_a_trusted_proxy_the_record_names_the_caller_it_forwarded_for(
    gw_behind_proxy: Harness, forwarded_for: str, recorded: str
) -> None:
    gw_behind_proxy.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/entitlements", ok({"items": []}))
    r = await gw_behind_proxy.client.get(ENTITLEMENTS, headers={"X-Forwarded-For": forwarded_for})
    assert r.status_code == 200, r.text
    (record,) = await calls(gw_behind_proxy)
    assert record.client_ip == recorded


async def test_without_trusted_proxies_a_forwarded_for_header_is_ignored(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/entitlements", ok({"items": []}))
    r = await gw.client.get(ENTITLEMENTS, headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 200, r.text
    (record,) = await calls(gw)
    assert record.client_ip == "127.0.0.1"


def test_a_valid_uscc_in_the_query_is_kept_as_the_enterprise_involved() -> None:
    assert audit.safe_query(f"uscc={USCC}&client_secret=s3cr3t") == f"uscc={USCC}&client_secret=%5Bredacted%5D"


@pytest.mark.parametrize(
    ("method", "route", "audited"),
    [
        ("POST", "/v1/notices/{payment_id}/objections", True),
        ("PUT", "/v1/operator/budgets/{policy_id}/{year}", True),
        ("GET", "/v1/enterprises/{uscc}/bank-accounts", True),
        ("GET", "/v1/operator/recovery-cases/{case_id}", True),
        ("GET", "/v1/operator/audit", True),
        ("GET", "/v1/third-party/enterprises/{uscc}/eligibility-summary", True),
        ("GET", "/v1/departments/{department}/instructions", True),
        ("GET", "/v1/policies/{policy_id}", False),
        ("GET", "/v1/notices", False),
        ("GET", "/v1/operator/performance", False),
        ("GET", "/healthz", False),
    ],
)
def test_which_calls_are_audited(method: str, route: str, audited: bool) -> None:
    assert audit.is_audited(method, route) is audited


# --- the chain and its verifier ---------------------------------------------------------


async def _make_calls(gw: Harness, n: int) -> None:
    gw.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/entitlements", ok({"items": []}))
    for _ in range(n):
        assert (await gw.client.get(ENTITLEMENTS)).status_code == 200


async def test_an_untouched_chain_verifies_and_the_command_exits_0(
    gw: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    await _make_calls(gw, 4)
    records = await chain(gw)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert records[0].prev_hash == audit.GENESIS_HASH
    assert all(r.prev_hash == p.hash for p, r in pairwise(records))

    assert await asyncio.to_thread(audit.main, ["verify", "--database-url", database_url(gw)]) == 0
    assert f"intact: {len(records)} records" in capsys.readouterr().out


async def test_an_edited_row_is_named_by_the_verifier(gw: Harness, capsys: pytest.CaptureFixture[str]) -> None:
    await _make_calls(gw, 4)
    await execute(gw, "DROP TRIGGER audit_log_no_update")  # the owner, going around the guard
    await execute(gw, "UPDATE audit_log SET status = 404 WHERE seq = 3")

    result = await verify(gw)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.kind, result.checked) == (3, "hash_mismatch", 2)
    assert await asyncio.to_thread(audit.main, ["verify", "--database-url", database_url(gw)]) == 1
    assert "broken at record 3: hash_mismatch" in capsys.readouterr().out


async def test_a_row_rehashed_without_the_audit_key_is_caught(gw: Harness) -> None:
    await _make_calls(gw, 4)
    await execute(gw, "DROP TRIGGER audit_log_no_update")
    (second,) = [r for r in await chain(gw) if r.seq == 2]
    forged = {**audit.hashed_fields(second), "client_ip": "10.0.0.9"}
    # Someone with the database but not the key: a plain SHA-256, or an HMAC under a guess.
    guessed = audit.AuditKeys.from_config("dev:" + base64.b64encode(b"g" * 32).decode())
    for forged_hash in (hashlib.sha256(audit.canonical(forged)).hexdigest(), audit.chain_hash(forged, guessed)):
        await execute(gw, f"UPDATE audit_log SET client_ip = '10.0.0.9', hash = '{forged_hash}' WHERE seq = 2")
        broken = (await verify(gw)).broken
        assert broken is not None and (broken.seq, broken.kind) == (2, "hash_mismatch")


async def test_a_row_rehashed_with_the_audit_key_still_breaks_the_next_link(gw: Harness) -> None:
    await _make_calls(gw, 4)
    await execute(gw, "DROP TRIGGER audit_log_no_update")
    (second,) = [r for r in await chain(gw) if r.seq == 2]
    forged = {**audit.hashed_fields(second), "client_ip": "10.0.0.9"}
    forged_hash = audit.chain_hash(forged, keys(gw))
    await execute(gw, f"UPDATE audit_log SET client_ip = '10.0.0.9', hash = '{forged_hash}' WHERE seq = 2")

    broken = (await verify(gw)).broken
    assert broken is not None and (broken.seq, broken.kind) == (3, "prev_link")


async def _append_forged(gw: Harness, key_id: str | None, hash_of: Callable[[dict[str, Any]], str]) -> int:
    """A record added at the end of the chain, head moved along, by someone writing SQL."""
    last = (await chain(gw))[-1]
    fields = {**audit.hashed_fields(last), "seq": last.seq + 1, "prev_hash": last.hash, "key_id": key_id}
    fields["recorded_at"] = audit.readable(last)["recorded_at"]
    forged = AuditRecord(**fields, hash=hash_of(fields))
    async with gw.app.state.gateway.sessions() as session, session.begin():
        session.add(forged)
        await session.execute(sa.text(f"UPDATE audit_head SET seq = {forged.seq}, hash = '{forged.hash}'"))
    return forged.seq


async def test_a_record_appended_without_a_key_after_signed_ones_is_caught(gw: Harness) -> None:
    await _make_calls(gw, 2)
    seq = await _append_forged(gw, None, lambda f: audit.chain_hash({**f, "key_id": None}, keys(gw)))

    broken = (await verify(gw)).broken
    assert broken is not None and (broken.seq, broken.kind) == (seq, "unkeyed")


async def test_a_record_signed_with_a_key_outside_the_ring_is_caught(gw: Harness) -> None:
    await _make_calls(gw, 2)
    other = audit.AuditKeys.from_config("forged:" + base64.b64encode(b"f" * 32).decode())
    seq = await _append_forged(gw, "forged", lambda f: audit.chain_hash(f, other))

    broken = (await verify(gw)).broken
    assert broken is not None and (broken.seq, broken.kind) == (seq, "unknown_key")


def test_the_audit_key_is_required_and_the_development_key_refused_in_production() -> None:
    with pytest.raises(audit.AuditKeyError, match="must be set"):
        audit.AuditKeys.from_config("", environment="production")
    with pytest.raises(audit.AuditKeyError, match="development"):
        audit.AuditKeys.from_config(audit.DEVELOPMENT_AUDIT_KEYS, environment="production")
    with pytest.raises(audit.AuditKeyError, match="32 bytes"):
        audit.AuditKeys.from_config("k1:" + base64.b64encode(b"short").decode(), environment="production")


def test_a_rotated_ring_signs_with_its_first_key_and_verifies_with_every_key() -> None:
    old, new = ("k2026:" + base64.b64encode(b"o" * 32).decode()), ("k2027:" + base64.b64encode(b"n" * 32).decode())
    fields = {name: None for name in audit.HASHED_FIELDS} | {"seq": 1, "prev_hash": audit.GENESIS_HASH}
    signed_before = audit.chain_hash(fields | {"key_id": "k2026"}, audit.AuditKeys.from_config(old))
    rotated = audit.AuditKeys.from_config(f"{new},{old}")
    assert rotated.current_id == "k2027"
    assert audit.chain_hash(fields | {"key_id": "k2026"}, rotated) == signed_before


async def test_a_deleted_row_is_named_as_a_gap(gw: Harness) -> None:
    await _make_calls(gw, 4)
    await execute(gw, "DROP TRIGGER audit_log_no_delete")
    await execute(gw, "DELETE FROM audit_log WHERE seq = 2")

    broken = (await verify(gw)).broken
    assert broken is not None and (broken.seq, broken.kind) == (2, "sequence_gap")
    assert "第2条记录缺失" in broken.detail


async def test_a_cut_off_tail_is_caught_by_the_head(gw: Harness) -> None:
    await _make_calls(gw, 3)
    last = (await chain(gw))[-1].seq
    await execute(gw, "DROP TRIGGER audit_log_no_delete")
    await execute(gw, f"DELETE FROM audit_log WHERE seq = {last}")

    broken = (await verify(gw)).broken
    assert broken is not None and (broken.seq, broken.kind) == (last, "sequence_gap")


async def test_a_chain_cut_back_with_its_head_passes_alone_but_not_against_an_anchor(
    gw: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    await _make_calls(gw, 4)
    records = await chain(gw)
    noted = audit.Anchor(records[-1].seq, records[-1].hash)  # what the log system kept
    kept = records[1]
    await execute(gw, "DROP TRIGGER audit_log_no_delete")
    await execute(gw, f"DELETE FROM audit_log WHERE seq > {kept.seq}")
    await execute(gw, f"UPDATE audit_head SET seq = {kept.seq}, hash = '{kept.hash}'")

    assert (await verify(gw)).intact  # every remaining record is genuine
    async with gw.app.state.gateway.sessions() as session:
        broken = (await audit.verify(session, keys(gw), anchors=[noted])).broken
    assert broken is not None and (broken.seq, broken.kind) == (kept.seq + 1, "anchor_missing")
    argv = ["verify", "--database-url", database_url(gw), "--anchor", f"{noted.seq}:{noted.hash}"]
    assert await asyncio.to_thread(audit.main, argv) == 1
    assert "anchor_missing" in capsys.readouterr().out


async def test_an_anchor_whose_record_now_has_another_hash_is_named(gw: Harness) -> None:
    await _make_calls(gw, 3)
    second = (await chain(gw))[1]
    async with gw.app.state.gateway.sessions() as session:
        broken = (await audit.verify(session, keys(gw), anchors=[audit.Anchor(second.seq, "0" * 64)])).broken
        assert broken is not None and (broken.seq, broken.kind) == (second.seq, "anchor_mismatch")
        assert (await audit.verify(session, keys(gw), anchors=[audit.Anchor(second.seq, second.hash)])).intact


@pytest.mark.parametrize("text", ["3", "0:" + "a" * 64, "x:" + "a" * 64, "3:" + "A" * 64, "3:abc"])
def test_a_malformed_anchor_is_refused_by_the_command(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        audit.main(["verify", "--database-url", "sqlite+aiosqlite:///unused.sqlite", "--anchor", text])
    assert exit_.value.code == 2
    assert "argument --anchor" in capsys.readouterr().err


async def test_the_gateway_logs_the_chain_head_as_an_anchor_when_it_moves(
    gw: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await _make_calls(gw, 2)
    head = (await chain(gw))[-1]
    caplog.set_level("INFO", logger="gateway.audit")
    task = asyncio.create_task(audit.log_anchors(gw.app.state.gateway.sessions, interval=0.01))
    try:
        for _ in range(200):
            if any(getattr(r, "audit_anchor", None) for r in caplog.records):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # a few more rounds: an unmoved head is not logged again
    finally:
        task.cancel()
    anchors = [r.audit_anchor for r in caplog.records if getattr(r, "audit_anchor", None)]
    assert anchors == [f"{head.seq}:{head.hash}"]


async def test_the_log_refuses_updates_and_deletes(gw: Harness) -> None:
    await _make_calls(gw, 1)
    for statement in ("UPDATE audit_log SET status = 500", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            await execute(gw, statement)
    assert (await verify(gw)).intact


async def test_twenty_parallel_calls_make_one_unbroken_chain(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/entitlements", ok({"items": []}))
    assert (await gw.client.get(ENTITLEMENTS)).status_code == 200  # fetches the token once

    answers = await asyncio.gather(*(gw.client.get(ENTITLEMENTS) for _ in range(20)))

    assert [a.status_code for a in answers] == [200] * 20
    records = await chain(gw)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert {a.headers["x-request-id"] for a in answers} <= {r.request_id for r in records}
    assert (await verify(gw)).intact


async def test_records_written_at_once_share_transactions_and_each_writer_gets_its_own(gw: Harness) -> None:
    head_updates = 0

    def count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        nonlocal head_updates
        head_updates += statement.lstrip().upper().startswith("UPDATE AUDIT_HEAD SET SEQ")

    writer: audit.ChainWriter = gw.app.state.gateway.audit
    engine = gw.app.state.gateway.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        entries = [audit_entry(f"batch-{i}") for i in range(40)]
        written = await asyncio.gather(*(writer.write(e) for e in entries))
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)

    assert [w.request_id for w in written] == [e.request_id for e in entries]
    assert sorted(w.seq for w in written) == list(range(written[0].seq, written[0].seq + 40))
    assert 1 <= head_updates < 40
    assert (await verify(gw)).intact


async def test_when_a_batch_cannot_be_written_every_writer_in_it_is_told(gw: Harness) -> None:
    await execute(gw, "DELETE FROM audit_head")
    writer: audit.ChainWriter = gw.app.state.gateway.audit

    outcomes = await asyncio.gather(*(writer.write(audit_entry(f"lost-{i}")) for i in range(5)), return_exceptions=True)

    assert all(isinstance(o, RuntimeError) and "audit_head" in str(o) for o in outcomes)
    assert await chain(gw) == []


# --- when the log cannot be written -----------------------------------------------------


async def test_without_the_audit_log_a_state_changing_call_answers_503(gw: Harness) -> None:
    await _make_calls(gw, 1)
    gw.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/confirmations/{CONFIRMATION}/decline", ok({}))
    await execute(gw, "DELETE FROM audit_head")

    r = await gw.client.post(DECLINE, json={"reason": "不需要"})

    assert_problem(r, 503, "audit_unavailable")


async def test_without_the_audit_log_sensitive_reads_are_refused_and_public_reads_still_answer(gw: Harness) -> None:
    await _make_calls(gw, 1)
    gw.services.reply("http://127.0.0.1:8001", "/policies", ok({"items": []}))
    await execute(gw, "DELETE FROM audit_head")

    assert_problem(await gw.client.get(ENTITLEMENTS), 503, "audit_unavailable")
    assert (await gw.client.get("/v1/policies")).status_code == 200


# --- the auditor's route ----------------------------------------------------------------


async def test_an_auditor_reads_the_log_in_chain_order_page_by_page(gw: Harness) -> None:
    await _make_calls(gw, 3)
    async with auditor(gw) as client:
        first = await client.get("/v1/operator/audit", params={"client_id": "qinqing", "limit": 2})
        assert first.status_code == 200, first.text
        page = first.json()
        assert [i["route"] for i in page["items"]] == ["/v1/enterprises/{uscc}/entitlements"] * 2
        assert page["next_after"] == page["items"][-1]["seq"]
        second = (
            await client.get("/v1/operator/audit", params={"client_id": "qinqing", "after": page["next_after"]})
        ).json()
    assert len(second["items"]) == 1 and second["next_after"] is None
    assert second["items"][0]["seq"] > page["next_after"]
    assert second["items"][0]["hash"] == (await chain(gw))[second["items"][0]["seq"] - 1].hash
    assert second["items"][0]["key_id"] == keys(gw).current_id


async def test_the_auditor_s_own_reading_is_recorded(gw: Harness) -> None:
    async with auditor(gw) as client:
        assert (await client.get("/v1/operator/audit")).status_code == 200
    (record,) = await calls(gw)
    assert (record.client_id, record.route, record.status) == ("auditor.sun", "/v1/operator/audit", 200)


async def test_the_time_window_filters_the_log(gw: Harness) -> None:
    await _make_calls(gw, 2)
    now = datetime.now(UTC)
    async with auditor(gw) as client:
        future = await client.get("/v1/operator/audit", params={"from": (now + timedelta(hours=1)).isoformat()})
        past = await client.get(
            "/v1/operator/audit",
            params={"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()},
        )
    assert future.json()["items"] == []
    assert len(past.json()["items"]) >= 2


async def test_an_operator_without_the_auditor_role_may_not_read_the_log(gw: Harness) -> None:
    r = await gw.client.get("/v1/operator/audit", headers={"X-Actor": "approver.zhao"})
    assert_problem(r, 403, "insufficient_scope")


async def test_a_front_end_may_not_read_the_log(gw: Harness) -> None:
    async with AsyncClient(
        transport=ASGITransport(app=gw.app),
        base_url="http://gateway",
        auth=ClientAuth(gw.registry["qinqing"], enterprise=USCC),
    ) as client:
        r = await client.get("/v1/operator/audit")
    assert r.status_code == 403


async def test_reading_the_log_needs_a_token(gw: Harness) -> None:
    assert gw.bare is not None
    assert (await gw.bare.get("/v1/operator/audit")).status_code == 401


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "101"}, "validation_failed"),
        ({"limit": "0"}, "validation_failed"),
        ({"after": "-1"}, "validation_failed"),
        ({"from": "2026-11-01T00:00:00"}, "validation_failed"),  # no time zone
        ({"from": "yesterday"}, "validation_failed"),
        ({"client_id": "no spaces please"}, "validation_failed"),
        ({"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, "invalid_time_range"),
    ],
)
async def test_bad_queries_of_the_log_are_refused(gw: Harness, params: dict[str, str], code: str) -> None:
    async with auditor(gw) as client:
        r = await client.get("/v1/operator/audit", params=params)
    assert_problem(r, 422, code)
