"""The simulator's API, over real HTTP to its own process: settles once per key,
refuses a reused key with another body, and misbehaves exactly as told."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from finance_sim import testing as sim_testing
from mianshen_shared.testing import wait_for

pytestmark = pytest.mark.integration
PATH = "/api/v1/payment-instructions"


def instruction(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "idempotency_key": f"test-{uuid.uuid4().hex}",
        "payer_budget_code": "410100-ZZKJJ-2026",
        "payee": {
            "name": "郑州示例科技有限公司",
            "account_number": "6222020200001234567",
            "bank_name": "中国工商银行郑州分行",
        },
        "amount_fen": 200_000_000,
        "purpose": "专精特新中小企业奖励",
        "reference": str(uuid.uuid4()),
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sim_testing.SimulatorProcess]:
    with sim_testing.running(tmp_path_factory.mktemp("finance") / "finance.sqlite", timeout_delay=1.0) as running:
        yield running


@pytest.fixture
async def client(sim: sim_testing.SimulatorProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=5) as http:
        yield http
        await http.delete("/_sim/faults")


async def test_a_new_key_is_settled_once_and_replayed_with_the_same_instruction(client, sim) -> None:
    body = instruction()
    first = await client.post(PATH, json=body)
    again = await client.post(PATH, json=body)
    assert first.status_code == 201
    assert first.json()["status"] == "settled"
    assert first.json()["amount_fen"] == 200_000_000
    assert again.status_code == 200
    assert again.json() == first.json()
    settled = [i for i in await sim.instructions() if i["idempotency_key"] == body["idempotency_key"]]
    assert len(settled) == 1
    assert (await sim.submissions())[body["idempotency_key"]] == 2


async def test_a_reused_key_with_a_different_body_is_a_conflict_and_changes_nothing(client, sim) -> None:
    body = instruction()
    await client.post(PATH, json=body)
    conflict = await client.post(PATH, json={**body, "amount_fen": body["amount_fen"] + 1})
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "idempotency_key_conflict"
    stored = (await client.get(f"{PATH}/{body['idempotency_key']}")).json()
    assert stored["amount_fen"] == body["amount_fen"]


async def test_an_instruction_is_found_by_its_key_and_an_unknown_key_is_not(client) -> None:
    body = instruction()
    created = (await client.post(PATH, json=body)).json()
    found = await client.get(f"{PATH}/{body['idempotency_key']}")
    assert found.status_code == 200
    assert found.json()["instruction_id"] == created["instruction_id"]
    missing = await client.get(f"{PATH}/never-used-{uuid.uuid4().hex}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "instruction_not_found"


@pytest.mark.parametrize(
    "change",
    [
        {"amount_fen": 0},
        {"amount_fen": -100},
        {"amount_fen": 12.5},
        {"amount_fen": "100"},
        {"idempotency_key": ""},
        {"idempotency_key": "k" * 101},
        {"payee": {"name": "甲", "account_number": "not-digits", "bank_name": "乙"}},
        {"payee": {"name": "甲", "account_number": "6222020200001234567"}},
        {"unexpected": "field"},
    ],
)
async def test_an_invalid_instruction_is_refused_and_nothing_is_settled(client, sim, change) -> None:
    body = instruction(**change)
    response = await client.post(PATH, json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    assert all(i["reference"] != body["reference"] for i in await sim.instructions())


async def test_a_missing_field_or_malformed_json_is_refused(client) -> None:
    body = instruction()
    del body["purpose"]
    assert (await client.post(PATH, json=body)).status_code == 422
    garbled = await client.post(PATH, content=b"{not json", headers={"content-type": "application/json"})
    assert garbled.status_code == 422


async def test_the_statement_lists_the_days_settled_instructions_only(client) -> None:
    body = instruction()
    await client.post(PATH, json=body)
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    statement = (await client.get("/api/v1/statement", params={"date": today.isoformat()})).json()
    assert body["idempotency_key"] in [i["idempotency_key"] for i in statement["instructions"]]
    assert statement["total_amount_fen"] == sum(i["amount_fen"] for i in statement["instructions"])
    yesterday = (await client.get("/api/v1/statement", params={"date": str(today - timedelta(days=1))})).json()
    assert yesterday["count"] == 0
    assert (await client.get("/api/v1/statement", params={"date": "2026-13-01"})).status_code == 422


async def test_a_fail_fault_answers_503_without_settling_and_then_clears(client, sim) -> None:
    body = instruction()
    await sim.arm("fail", count=2)
    assert (await client.post(PATH, json=body)).status_code == 503
    assert (await client.post(PATH, json=body)).status_code == 503
    assert (await client.get(f"{PATH}/{body['idempotency_key']}")).status_code == 404
    assert (await client.post(PATH, json=body)).status_code == 201
    assert (await sim.submissions())[body["idempotency_key"]] == 3


async def test_a_reject_fault_is_a_business_rejection_that_settles_nothing(client) -> None:
    body = instruction()
    await client.post("/_sim/faults", json={"mode": "reject", "code": "account_closed", "message": "账户已销户"})
    rejected = await client.post(PATH, json=body)
    assert rejected.status_code == 422
    assert rejected.json() == {"code": "account_closed", "message": "账户已销户"}
    assert (await client.get(f"{PATH}/{body['idempotency_key']}")).status_code == 404


async def test_a_timeout_fault_outlasts_the_client_and_settles_afterwards(client) -> None:
    body = instruction()
    await client.post("/_sim/faults", json={"mode": "timeout", "delay_seconds": 0.8})
    with pytest.raises(httpx.ReadTimeout):
        await client.post(PATH, json=body, timeout=0.3)
    assert (await client.get(f"{PATH}/{body['idempotency_key']}")).status_code == 404

    async def settled() -> bool:
        return (await client.get(f"{PATH}/{body['idempotency_key']}")).status_code == 200

    await wait_for(settled, timeout=5, interval=0.05)
    assert (await client.post(PATH, json=body)).status_code == 200


async def test_a_drop_after_apply_fault_settles_but_never_answers(client) -> None:
    body = instruction()
    await client.post("/_sim/faults", json={"mode": "drop_after_apply"})
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post(PATH, json=body)
    found = await client.get(f"{PATH}/{body['idempotency_key']}")
    assert found.status_code == 200
    assert found.json()["amount_fen"] == body["amount_fen"]


async def test_clearing_faults_disarms_them(client) -> None:
    await client.post("/_sim/faults", json={"mode": "fail", "count": 5})
    assert (await client.delete("/_sim/faults")).status_code == 204
    assert (await client.post(PATH, json=instruction())).status_code == 201


async def test_an_unknown_fault_mode_is_refused(client) -> None:
    assert (await client.post("/_sim/faults", json={"mode": "explode"})).status_code == 422


async def test_settled_instructions_survive_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "restart.sqlite"
    body = instruction()
    with sim_testing.running(db) as first:
        async with httpx.AsyncClient(base_url=first.url) as http:
            created = (await http.post(PATH, json=body)).json()
    with sim_testing.running(db) as second:
        async with httpx.AsyncClient(base_url=second.url) as http:
            replay = await http.post(PATH, json=body)
    assert replay.status_code == 200
    assert replay.json()["instruction_id"] == created["instruction_id"]
