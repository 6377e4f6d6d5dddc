"""数据共享督办 over HTTP, on the migrated schema: GET /feeds, /feeds/overdue and
/feeds/{department}, the counts added up by the database, and the feed gauges
restored from it when the service starts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client import REGISTRY

from eligibility import supervision
from eligibility.config import Settings
from eligibility.main import create_app
from eligibility.repository import EligibilityRepository
from eligibility.service import shanghai_date
from eligibility.supervision import DayCount
from mianshen_shared import observability
from mianshen_shared.db import transaction

pytestmark = pytest.mark.integration

TITLE = "miit.sme_title_recognized"


def count(department: str, at: datetime, records: int = 1, *, reason: str = "") -> DayCount:
    outcome = "rejected" if reason else "accepted"
    return DayCount(department, shanghai_date(at), TITLE, outcome, reason, records, at, at)


async def add(app: FastAPI, *counts: DayCount) -> None:
    async with transaction(app.state.runtime.sessions) as session:
        await EligibilityRepository(session).add_feed_counts(list(counts))


@pytest.fixture
async def api(pg_database) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    app = create_app(Settings(database_url=await pg_database("eligibility_feeds"), messaging_enabled=False))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield app, client


async def test_counts_for_the_same_day_add_up_and_keep_the_first_and_last_arrival(api) -> None:
    app, client = api
    now = datetime.now(UTC).replace(microsecond=0)
    early, late = now - timedelta(minutes=30), now - timedelta(minutes=1)
    if shanghai_date(early) != shanghai_date(late):
        early = late  # just after midnight in Shanghai: keep both on one day
    await add(app, count("gxj", late, 3))
    await add(app, count("gxj", early, 2), count("gxj", late, reason="invalid_attributes"))

    body = (await client.get("/feeds/gxj")).json()
    today = body["days"][-1]
    assert (today["accepted"], today["rejected"]) == (5, 1)
    assert today["accepted_by_record_type"] == {TITLE: 5}
    assert today["rejected_by_reason"] == {"invalid_attributes": 1}
    assert (_t(today["first_at"]), _t(today["last_at"])) == (early, late)


async def test_the_overview_lists_every_department_with_its_schedule_and_status(api) -> None:
    app, client = api
    now = datetime.now(UTC).replace(microsecond=0)
    await add(
        app,
        count("gxj", now - timedelta(days=1), 40),
        count("gxj", now - timedelta(days=8), 60),
        count("gxj", now - timedelta(days=2), reason="record_type_not_allowed"),
        count("rsj", now - timedelta(days=50), 9),
    )
    response = await client.get("/feeds")
    assert response.status_code == 200
    feeds = {f["department"]: f for f in response.json()["items"]}
    assert list(feeds) == ["gxj", "rsj", "tjj", "cjj", "gzw", "credit"]

    gxj = feeds["gxj"]
    assert (gxj["name"], gxj["accepted_7d"], gxj["accepted_30d"]) == ("市工信局", 40, 100)
    assert gxj["rejected_by_reason_30d"] == {"record_type_not_allowed": 1}
    assert _t(gxj["last_arrival"]) == now - timedelta(days=1)
    assert gxj["schedule"]["every"] == "P7D" and gxj["schedule"]["allowed_gap_seconds"] == 9 * 86400
    assert (gxj["status"]["code"], gxj["status"]["label"]) == ("on_time", "按时报送")
    assert gxj["volume"]["last_push_records"] == 40

    assert feeds["rsj"]["status"]["code"] == "overdue"  # monthly, five days' grace, silent for fifty days
    assert feeds["tjj"]["status"]["code"] == "never"


async def test_the_overdue_list_is_the_tongbao_with_how_long_and_the_agreement(api) -> None:
    app, client = api
    now = datetime.now(UTC).replace(microsecond=0)
    await add(app, count("gxj", now - timedelta(days=2)), count("rsj", now - timedelta(days=50)))
    body = (await client.get("/feeds/overdue")).json()

    listed = {f["department"]: f for f in body["items"]}
    assert set(listed) == {"rsj", "tjj", "cjj", "gzw", "credit"}, "gxj pushed two days ago, within its week"
    rsj = listed["rsj"]
    assert rsj["status"] == "overdue"
    assert rsj["overdue_days"] >= 50 - 36
    assert rsj["text"].startswith("市人社局：最近一次报送于")
    assert rsj["schedule"]["agreement"].startswith("市人社局每月")
    assert list(listed)[-1] == "rsj", "the shortest late comes last"
    assert body["summary"].count("、") == 4 and "未按约定报送数据" in body["summary"]


async def test_a_department_the_city_does_not_know_is_not_found_and_a_malformed_code_is_refused(api) -> None:
    _, client = api
    response = await client.get("/feeds/bureau_of_mischief")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "department_not_found"
    assert "bureau_of_mischief" in response.json()["detail"]
    for code in ("GXJ", "gxj;drop", "x" * 65, "9gxj"):
        response = await client.get(f"/feeds/{code}")
        assert (response.status_code, response.json()["code"]) == (422, "validation_failed"), code


async def test_the_feed_gauges_are_restored_from_the_database_at_startup(pg_database) -> None:
    url = await pg_database("eligibility_feed_gauges")
    first = create_app(Settings(database_url=url, messaging_enabled=False))
    last = datetime(2024, 5, 20, 2, 0, tzinfo=UTC)
    async with first.router.lifespan_context(first):
        await add(first, count("gzw", last - timedelta(days=3)), count("gzw", last))
    observability.FEED_LAST_RECORD.clear()
    observability.FEED_EXPECTED_INTERVAL.clear()
    supervision._last_exported.clear()

    again = create_app(Settings(database_url=url, messaging_enabled=False))
    async with again.router.lifespan_context(again):
        assert _gauge("mianshen_feed_last_record_timestamp_seconds", "gzw") == last.timestamp()
        assert _gauge("mianshen_feed_expected_interval_seconds", "gzw") == 38 * 86400
        assert _gauge("mianshen_feed_last_record_timestamp_seconds", "tjj") is None


async def test_counts_add_up_on_the_embedded_sqlite_database_too(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'e.sqlite'}", messaging_enabled=False))
    at = datetime(2024, 5, 20, 2, 0, tzinfo=UTC)
    async with app.router.lifespan_context(app):
        await add(app, count("gxj", at, 2))
        await add(app, count("gxj", at - timedelta(hours=1), 3), count("gxj", at, reason="invalid_attributes"))
        async with transaction(app.state.runtime.sessions) as session:
            repo = EligibilityRepository(session)
            rows = await repo.feed_counts_since(date(2024, 5, 1))
            arrivals = await repo.last_arrivals()
    assert sorted((r.outcome, r.records, r.first_at.replace(tzinfo=UTC)) for r in rows) == [
        ("accepted", 5, at - timedelta(hours=1)),
        ("rejected", 1, at),
    ]
    assert arrivals["gxj"].replace(tzinfo=UTC) == at


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _gauge(name: str, department: str) -> Any:
    return REGISTRY.get_sample_value(name, {"department": department})
