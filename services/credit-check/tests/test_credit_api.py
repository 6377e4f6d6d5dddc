"""credit-check's read API on the migrated schema (PostgreSQL, and the SQLite quick
start): an enterprise's standing with validity, the assessments of an entitlement
with the records they rested on, and refused requests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from credit_check import service
from credit_check.config import Settings
from credit_check.main import create_app
from credit_check.repository import CreditRepository
from mianshen_shared import city, testing
from mianshen_shared.db import transaction
from mianshen_shared.events.catalog import ConfirmationAccepted, DepartmentRecordSubmitted

from .factories import accepted, credit_record, red_record

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)
TODAY = NOW.astimezone(ZoneInfo("Asia/Shanghai")).date()


async def store(app: FastAPI, *records: DepartmentRecordSubmitted, now: datetime = NOW) -> None:
    async with transaction(app.state.runtime.sessions) as session:
        for submitted in records:
            await service.record_credit(
                CreditRepository(session), city=city.current(), record=submitted, today=TODAY, now=now
            )


async def assess(app: FastAPI, acceptance: ConfirmationAccepted) -> None:
    async with transaction(app.state.runtime.sessions) as session:
        await service.assess(CreditRepository(session), accepted=acceptance, today=TODAY, now=NOW)


@pytest.fixture(params=["postgresql", "sqlite"])
async def api(request, pg_database, tmp_path: Path) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    url = (
        await pg_database("credit_check_api")
        if request.param == "postgresql"
        else f"sqlite+aiosqlite:///{tmp_path / 'credit.sqlite'}"
    )
    app = create_app(Settings(database_url=url, messaging_enabled=False))
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield app, client


async def test_the_standing_lists_black_and_red_records_with_their_validity(api) -> None:
    app, client = api
    uscc = testing.make_uscc()
    expired = credit_record(uscc, expires_on=TODAY.isoformat())
    listed = credit_record(uscc, expires_on=(TODAY + timedelta(days=1)).isoformat())
    scheduled = credit_record(uscc, record_type="credit.major_tax_violation", effective=TODAY + timedelta(days=5))
    honoured = red_record(uscc)
    await store(app, expired, listed, scheduled, honoured)

    body = (await client.get(f"/enterprises/{uscc}/credit")).json()

    assert (body["listed"], body["red_listed"], body["as_of"]) == (True, True, TODAY.isoformat())
    assert [r["record_id"] for r in body["active_records"]] == [listed.record_id]
    assert [r["record_id"] for r in body["standing"]["black_records"]] == [listed.record_id, scheduled.record_id]
    assert body["standing"]["black_records"][0]["expires_on"] == (TODAY + timedelta(days=1)).isoformat()
    assert [r["record_id"] for r in body["standing"]["red_records"]] == [honoured.record_id]
    assert len(body["all_records"]) == 4


async def test_an_entitlement_s_assessments_show_the_records_they_rested_on(api) -> None:
    app, client = api
    uscc = testing.make_uscc()
    listed, honoured = credit_record(uscc), red_record(uscc)
    await store(app, listed, honoured)
    acceptance = accepted(uscc)
    await assess(app, acceptance)
    await store(app, listed.model_copy(update={"action": "revoke", "attributes": {}}), now=NOW + timedelta(hours=1))

    for path in (
        f"/enterprises/{uscc}/entitlements/{acceptance.entitlement_id}/credit-assessments",
        f"/entitlements/{acceptance.entitlement_id}/credit-assessments",
    ):
        body = (await client.get(path)).json()
        assert body["decision"] == "cleared"
        held, cleared = body["assessments"]
        assert ([r["record_id"] for r in held["reasons"]], held["acceptance_id"]) == (
            [listed.record_id],
            str(acceptance.acceptance_id),
        )
        assert (cleared["reasons"], cleared["supersedes"]) == ([], held["assessment_id"])
        assert [r["record_id"] for r in cleared["red_records"]] == [honoured.record_id]


async def test_another_enterprise_s_entitlement_is_not_found(api) -> None:
    app, client = api
    owner = testing.make_uscc()
    acceptance = accepted(owner)
    await assess(app, acceptance)
    response = await client.get(
        f"/enterprises/{testing.make_uscc()}/entitlements/{acceptance.entitlement_id}/credit-assessments"
    )
    assert (response.status_code, response.json()["code"]) == (404, "assessment_not_found")
    assert (await client.get(f"/entitlements/{uuid.uuid4()}/credit-assessments")).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/enterprises/not-a-code/credit",
        "/enterprises/91410105MA9DEM01XA/credit",  # wrong check character
        f"/enterprises/not-a-code/entitlements/{uuid.uuid4()}/credit-assessments",
        "/enterprises/{uscc}/entitlements/not-a-uuid/credit-assessments",
        "/entitlements/not-a-uuid/credit-assessments",
    ],
)
async def test_malformed_codes_and_ids_are_refused(api, path: str) -> None:
    _app, client = api
    response = await client.get(path.format(uscc=testing.make_uscc()))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
