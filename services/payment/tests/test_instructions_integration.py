"""减免指令 on the real Kafka and PostgreSQL: a cleared rent reduction becomes one
instruction to 市国资委, whose acknowledgement is announced once as benefit.executed;
the department API refuses everything that does not fit."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from httpx import ASGITransport, AsyncClient

from mianshen_shared import testing
from mianshen_shared.db import transaction
from mianshen_shared.events import make_envelope
from mianshen_shared.events.catalog import CreditAssessed, Payload, PolicyPublished
from mianshen_shared.topics import physical
from payment.config import Settings
from payment.main import create_app
from payment.models import ExecutionInstruction

from .test_instructions_unit import RENT_POLICY, rent_relief

pytestmark = pytest.mark.integration
YESTERDAY = (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)).isoformat()
ACK = {"reference": "GZW-2026-0091", "executed_on": YESTERDAY, "amount_fen": 2_700_000, "note": "已按合同减免"}


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[dict[str, Any]]:
    """One payment service for the module, its policy terms known; each test its own enterprise."""
    database = await testing.create_database("payment_instr")
    prefix = testing.topic_prefix()
    settings = Settings(
        database_url=database,
        topic_prefix=prefix,
        kafka_bootstrap=testing.KAFKA_BOOTSTRAP,
        finance_url="http://127.0.0.1:9",
        payment_poll_seconds=0.5,
    )
    app = create_app(settings)
    try:
        async with (
            app.router.lifespan_context(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://payment") as client,
        ):
            stack = {"app": app, "prefix": prefix, "client": client}
            await _produce(stack, "policies", _rent_policy(), key=RENT_POLICY)
            await testing.wait_for(lambda: _terms_known(app), timeout=30)
            yield stack
    finally:
        await testing.drop_database(database)
        await testing.delete_topics(prefix)


def _rent_policy() -> PolicyPublished:
    return PolicyPublished(
        policy_id=RENT_POLICY,
        version=2,
        title="承租国有资产类经营用房“免三减半”租金减免",
        document={"benefit": {"kind": "rent_reduction"}, "procedure": {"executing_department": "gzw"}},
        published_at=datetime.now(UTC),
    )


async def _terms_known(app: Any) -> bool:
    async with transaction(app.state.runtime.sessions) as session:
        found = await session.scalar(
            sa.text("SELECT executing_department FROM policy_terms WHERE policy_id = :p"), {"p": RENT_POLICY}
        )
    return found == "gzw"


async def _produce(stack: dict[str, Any], topic: str, payload: Payload, *, key: str, times: int = 1) -> None:
    envelope = make_envelope(payload, source="test", subject=key, correlation_id=f"c-{uuid.uuid4().hex[:8]}")
    for _ in range(times):
        await testing.produce(physical(topic, stack["prefix"]), envelope.to_bytes(), key=key)


async def _instruction(stack: dict[str, Any], event: CreditAssessed) -> ExecutionInstruction:
    async def found() -> ExecutionInstruction | None:
        async with transaction(stack["app"].state.runtime.sessions) as session:
            return await session.scalar(
                sa.select(ExecutionInstruction).where(ExecutionInstruction.acceptance_id == event.acceptance_id)
            )

    result: ExecutionInstruction = await testing.wait_for(found, timeout=30)
    return result


async def _issued(stack: dict[str, Any]) -> ExecutionInstruction:
    event = rent_relief()
    await _produce(stack, "credit-assessments", event, key=event.uscc)
    return await _instruction(stack, event)


def _ack_path(instruction_id: uuid.UUID, department: str = "gzw", step: str = "acknowledgement") -> str:
    return f"/departments/{department}/instructions/{instruction_id}/{step}"


async def test_a_cleared_reduction_acknowledged_by_its_department_is_announced_exactly_once(stack) -> None:
    client: AsyncClient = stack["client"]
    event = rent_relief()
    await _produce(stack, "credit-assessments", event, key=event.uscc, times=2)
    instruction = await _instruction(stack, event)
    assert (instruction.status, instruction.executing_department, instruction.amount_fen) == (
        "issued",
        "gzw",
        2_700_000,
    )

    listed = await client.get("/departments/gzw/instructions", params={"status": "issued"})
    assert listed.status_code == 200
    assert str(instruction.instruction_id) in {i["instruction_id"] for i in listed.json()["items"]}

    first = await client.post(_ack_path(instruction.instruction_id), json=ACK)
    again = await client.post(_ack_path(instruction.instruction_id), json=ACK)
    assert (first.status_code, again.status_code) == (200, 200), first.text
    assert first.json()["status"] == again.json()["status"] == "acknowledged"
    assert first.json()["status_text"] == "已办理减免"

    async with testing.TopicReader(physical("payments", stack["prefix"])) as reader:
        await reader.wait_for(lambda m: str(instruction.instruction_id) in m.value.decode(), timeout=30)
        await asyncio.sleep(1.0)
        await reader.poll()
        executed = [
            e
            for e in reader.envelopes("benefit.executed")
            if e.data["instruction_id"] == str(instruction.instruction_id)
        ]
    assert len(executed) == 1
    assert (executed[0].data["executed_by"], executed[0].data["reference"], executed[0].data["amount_fen"]) == (
        "gzw",
        "GZW-2026-0091",
        2_700_000,
    )
    assert executed[0].subject == event.uscc


async def test_a_different_acknowledgement_after_the_first_is_a_conflict(stack) -> None:
    client: AsyncClient = stack["client"]
    instruction = await _issued(stack)
    assert (await client.post(_ack_path(instruction.instruction_id), json=ACK)).status_code == 200
    r = await client.post(_ack_path(instruction.instruction_id), json={**ACK, "reference": "GZW-2026-0092"})
    assert r.status_code == 409
    assert r.json()["code"] == "instruction_already_acknowledged"


async def test_another_departments_instruction_is_not_found(stack) -> None:
    client: AsyncClient = stack["client"]
    instruction = await _issued(stack)
    r = await client.post(_ack_path(instruction.instruction_id, department="gxj"), json=ACK)
    assert r.status_code == 404
    assert r.json()["code"] == "instruction_not_found"
    listed = await client.get("/departments/gxj/instructions")
    assert str(instruction.instruction_id) not in {i["instruction_id"] for i in listed.json()["items"]}


async def test_an_amount_other_than_the_instructions_is_refused_with_a_chinese_message(stack) -> None:
    client: AsyncClient = stack["client"]
    instruction = await _issued(stack)
    r = await client.post(_ack_path(instruction.instruction_id), json={**ACK, "amount_fen": 2_600_000})
    assert r.status_code == 422
    assert r.json()["code"] == "amount_mismatch"
    assert "不一致" in r.json()["detail"]


async def test_a_refusal_reaches_the_operators_list_with_its_reason(stack) -> None:
    client: AsyncClient = stack["client"]
    instruction = await _issued(stack)
    r = await client.post(_ack_path(instruction.instruction_id, step="refusal"), json={"reason": "租赁合同已解除"})
    assert r.status_code == 200, r.text
    refused = (await client.get("/instructions", params={"status": "refused"})).json()["items"]
    mine = next(i for i in refused if i["instruction_id"] == str(instruction.instruction_id))
    assert mine["refusal_reason"] == "租赁合同已解除"


async def test_the_enterprise_sees_its_reduction_and_not_anothers(stack) -> None:
    client: AsyncClient = stack["client"]
    instruction = await _issued(stack)
    mine = (await client.get(f"/enterprises/{instruction.uscc}/instructions")).json()["items"]
    assert [i["instruction_id"] for i in mine] == [str(instruction.instruction_id)]
    assert mine[0]["status_text"] == "已通知实施部门，待办理减免"
    assert (await client.get(f"/enterprises/{testing.make_uscc()}/instructions")).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in ACK.items() if k != "reference"}, "reference"),
        ({**ACK, "approved": True}, "approved"),
        ({**ACK, "executed_on": "昨天"}, "executed_on"),
        ({**ACK, "amount_fen": -1}, "amount_fen"),
        ({**ACK, "amount_fen": 27000.5}, "amount_fen"),
        ({**ACK, "reference": "编号 有空格"}, "reference"),
    ],
    ids=["missing-reference", "unknown-field", "not-a-date", "negative-amount", "fractional-fen", "bad-reference"],
)
async def test_bad_acknowledgements_are_refused(stack, body: dict[str, Any], field: str) -> None:
    r = await stack["client"].post(_ack_path(uuid.uuid4()), json=body)
    assert r.status_code == 422
    assert any(e["field"] == field for e in r.json()["errors"]), r.json()


async def test_malformed_json_unknown_departments_and_bad_ids_are_refused(stack) -> None:
    client: AsyncClient = stack["client"]
    malformed = await client.post(
        _ack_path(uuid.uuid4()), content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed_json")
    unknown = await client.get("/departments/nosuch/instructions")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "department_not_found")
    assert (await client.get("/departments/GZW/instructions")).status_code == 422
    assert (await client.post(_ack_path("not-a-uuid"), json=ACK)).status_code == 422  # type: ignore[arg-type]
    assert (await client.get("/departments/gzw/instructions", params={"status": "paid"})).status_code == 422
    missing = await client.post(_ack_path(uuid.uuid4()), json=ACK)
    assert (missing.status_code, missing.json()["code"]) == (404, "instruction_not_found")
    refusal = await client.post(_ack_path(uuid.uuid4(), step="refusal"), json={"reason": ""})
    assert refusal.status_code == 422
    assert (await client.get("/enterprises/91410105MA00000000/instructions")).json()["code"] == "invalid_uscc"
