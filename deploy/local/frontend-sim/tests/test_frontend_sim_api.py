"""The simulator's API, over real HTTP to its own process: a notification is kept once
per front end and key, a wrong signature is refused, and faults fail exactly N deliveries."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from frontend_sim import testing as sim_testing
from frontend_sim.app import DEVELOPMENT_SECRET
from mianshen_shared import testing

pytestmark = pytest.mark.integration
PATH = "/qinqing/api/v1/notifications"


def notification(uscc: str, **overrides: Any) -> dict[str, Any]:
    return {
        "notification_id": str(uuid.uuid4()),
        "uscc": uscc,
        "kind": "confirmation_requested",
        "title": "惠企政策兑现待确认",
        "message": "您有一笔惠企政策资金待确认：《郑州市专精特新中小企业奖励》，金额500,000.00元",
        **overrides,
    }


def signed(document: dict[str, Any], *, secret: str = DEVELOPMENT_SECRET) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(document, ensure_ascii=False).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": document.get("notification_id", "k"),
        "X-Signature": signature,
    }
    return body, headers


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sim_testing.FrontendSimProcess]:
    with sim_testing.running(tmp_path_factory.mktemp("frontend") / "frontend.sqlite") as running:
        yield running


@pytest.fixture
async def client(sim: sim_testing.FrontendSimProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.url, timeout=5) as http:
        yield http
        await http.delete("/_sim/faults")


async def test_a_signed_notification_is_kept_once_however_often_it_is_delivered(client, sim) -> None:
    uscc = testing.make_uscc()
    body, headers = signed(notification(uscc))
    first = await client.post(PATH, content=body, headers=headers)
    again = await client.post(PATH, content=body, headers=headers)
    assert first.status_code == 201 and first.json()["duplicate"] is False
    assert again.status_code == 200 and again.json()["duplicate"] is True
    kept = await sim.notifications(uscc)
    assert len(kept) == 1
    assert kept[0]["deliveries"] == 2
    assert kept[0]["body"]["message"].startswith("您有一笔惠企政策资金待确认")


async def test_each_front_end_keeps_its_own_copy_and_the_list_filters_by_enterprise(client, sim) -> None:
    uscc, other = testing.make_uscc(), testing.make_uscc()
    body, headers = signed(notification(uscc))
    await client.post("/qinqing/api/v1/notifications", content=body, headers=headers)
    await client.post("/zhenghaoban/api/v1/notifications", content=body, headers=headers)
    other_body, other_headers = signed(notification(other))
    await client.post(PATH, content=other_body, headers=other_headers)
    assert sorted(n["front_end"] for n in await sim.notifications(uscc)) == ["qinqing", "zhenghaoban"]
    assert [n["uscc"] for n in await sim.notifications(other)] == [other]


async def test_a_wrong_or_missing_signature_is_refused_and_nothing_is_kept(client, sim) -> None:
    uscc = testing.make_uscc()
    body, headers = signed(notification(uscc), secret="not-the-shared-secret")
    wrong = await client.post(PATH, content=body, headers=headers)
    missing = await client.post(PATH, content=body, headers={"Idempotency-Key": "x"})
    tampered_body, good_headers = signed(notification(uscc))
    tampered = await client.post(PATH, content=tampered_body.replace(b"500,000", b"900,000"), headers=good_headers)
    assert wrong.status_code == missing.status_code == tampered.status_code == 401
    assert wrong.json()["code"] == "bad_signature"
    assert await sim.notifications(uscc) == []


async def test_armed_faults_fail_exactly_the_next_deliveries(client, sim) -> None:
    uscc = testing.make_uscc()
    await sim.fail_next(2, status=429)
    body, headers = signed(notification(uscc))
    answers = [(await client.post(PATH, content=body, headers=headers)).status_code for _ in range(3)]
    assert answers == [429, 429, 201]
    assert len(await sim.notifications(uscc)) == 1


async def test_bad_input_is_refused(client) -> None:
    uscc = testing.make_uscc()
    unknown_front_end = await client.post("/weixin/api/v1/notifications", content=b"{}", headers={})
    assert unknown_front_end.status_code == 422
    body, headers = signed({"notification_id": "n-1", "uscc": "not-a-uscc", "title": "t", "message": "m"})
    assert (await client.post(PATH, content=body, headers=headers)).status_code == 422
    malformed = b"{not json"
    sig = "sha256=" + hmac.new(DEVELOPMENT_SECRET.encode(), malformed, hashlib.sha256).hexdigest()
    answer = await client.post(PATH, content=malformed, headers={"Idempotency-Key": "m-1", "X-Signature": sig})
    assert answer.status_code == 422
    no_key_body, no_key_headers = signed(notification(uscc))
    del no_key_headers["Idempotency-Key"]
    assert (await client.post(PATH, content=no_key_body, headers=no_key_headers)).status_code == 400
    assert (await client.post("/_sim/faults", json={"count": 0})).status_code == 422
    assert (await client.post("/_sim/faults", json={"count": 1, "mode": "x"})).status_code == 422
