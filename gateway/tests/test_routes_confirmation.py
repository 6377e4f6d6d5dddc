"""The 意愿确认 money-path routes through the gateway: an enterprise's saved (masked)
accounts and the operators' view of front-end notifications, checked at the door and
forwarded to confirmation."""

from __future__ import annotations

import uuid

import pytest

from mianshen_shared import testing

from .factories import with_wrong_check_digit
from .fakes import ok
from .harness import Harness, assert_problem

pytestmark = pytest.mark.unit


CONFIRMATION_SVC = "http://127.0.0.1:8003"
USCC = testing.make_uscc()
ACCOUNTS = {
    "items": [
        {
            "account_id": str(uuid.uuid4()),
            "account_name": "郑州示例科技有限公司",
            "account_number": "6222***********6543",
            "bank_name": "中国银行郑州分行",
            "last_used_at": "2026-11-25T02:00:00Z",
        }
    ]
}


async def test_saved_accounts_are_answered_by_confirmation(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION_SVC, f"/enterprises/{USCC}/bank-accounts", ok(ACCOUNTS))
    r = await gw.client.get(f"/v1/enterprises/{USCC}/bank-accounts")
    assert (r.status_code, r.json()) == (200, ACCOUNTS)


async def test_failed_notifications_are_listed_for_operators_with_their_filters(gw: Harness) -> None:
    gw.services.reply(CONFIRMATION_SVC, "/notifications", ok({"items": []}))
    r = await gw.client.get(
        "/v1/operator/notifications", params={"status": "failed", "uscc": USCC}, headers={"X-Actor": "auditor.sun"}
    )
    assert r.status_code == 200, r.text
    (sent,) = gw.services.requests_to("/notifications")
    assert dict(sent.url.params) == {"status": "failed", "uscc": USCC, "limit": "100", "offset": "0"}
    assert sent.headers["x-actor"] == "auditor.sun"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (f"/v1/enterprises/{with_wrong_check_digit(USCC)}/bank-accounts", "invalid_uscc"),
        ("/v1/operator/notifications?status=lost", "validation_failed"),
        ("/v1/operator/notifications?uscc=not-a-code", "validation_failed"),
        ("/v1/operator/notifications?limit=0", "validation_failed"),
    ],
)
async def test_bad_requests_are_refused_at_the_door(gw: Harness, path: str, code: str) -> None:
    assert_problem(await gw.client.get(path), 422, code)
    assert gw.services.requests == []


def test_the_routes_are_in_the_published_api(gw: Harness) -> None:
    paths = gw.app.openapi()["paths"]
    assert "/v1/enterprises/{uscc}/bank-accounts" in paths
    assert "/v1/operator/notifications" in paths
