"""绩效评估 on the migrated PostgreSQL schema: entitlements driven through the real
service functions, read back by the repository's queries and the three routes."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from httpx import ASGITransport, AsyncClient

from confirmation import service
from confirmation.config import Settings
from confirmation.main import create_app
from confirmation.performance import OPEN_STATUSES, PerformanceQuery
from confirmation.repository import ConfirmationRepository
from mianshen_shared.db import transaction

from .factories import determination, new_account
from .fakes import RecordingEmitter
from .performance_story import HOSTILE_POLICY_ID, POLICY_ID, tell

pytestmark = pytest.mark.integration
DAY = timedelta(days=1)


async def test_the_report_on_postgresql_follows_entitlements_from_determination_to_payment(pg_database) -> None:
    app = create_app(Settings(database_url=await pg_database("confirmation_perf"), messaging_enabled=False))
    now = datetime.now(UTC)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        story = await tell(app, base=now - 20 * DAY)
        # Two years ago: one declined, one accepted that credit-check never answered,
        # and one request nobody answered (expired).
        long_ago = now - 730 * DAY
        settled, forgotten, unanswered = (
            determination(uscc).model_copy(update={"determined_at": long_ago})
            for uscc in (story.first, story.second, story.second)
        )
        async with transaction(app.state.runtime.sessions) as session:
            repo = ConfirmationRepository(session)
            emit = RecordingEmitter()
            for d in (settled, forgotten, unanswered):
                await service.apply_determination(repo, determination=d, now=long_ago, emit=emit)
            declined = await repo.confirmation_for_entitlement(settled.entitlement_id)
            accepted = await repo.confirmation_for_entitlement(forgotten.entitlement_id)
            assert declined is not None and accepted is not None
            await service.decline(
                repo,
                uscc=story.first,
                confirmation_id=declined.confirmation_id,
                reason="不需要",
                now=long_ago,
                emit=emit,
            )
            await service.accept(
                repo,
                uscc=story.second,
                confirmation_id=accepted.confirmation_id,
                **new_account(),
                now=long_ago,
                emit=emit,
            )

        period = PerformanceQuery(story.base.date() - DAY, now.date())
        async with transaction(app.state.runtime.sessions) as session:
            facts, steps = await ConfirmationRepository(session).performance_rows(
                start=period.start, end=period.end, policy_id=None, open_statuses=OPEN_STATUSES
            )
        selected = {f.entitlement_id for f in facts}
        assert settled.entitlement_id not in selected, "settled outside the period"
        assert {forgotten.entitlement_id, unanswered.entitlement_id} <= selected, "still open, so possibly stuck"
        assert len(selected) == 8
        assert sorted(s.paid_amount_fen for s in steps if s.kind == "paid") == [200_000, 300_000]
        assert all(s.paid_amount_fen is None for s in steps if s.kind != "paid")

        params = {"from": period.date_from.isoformat(), "to": period.date_to.isoformat()}
        body = (await client.get("/performance", params=params)).json()
        main = next(p for p in body["policies"] if p["policy_id"] == POLICY_ID)
        assert (main["determined"], main["paid"], main["paid_amount_fen"], main["take_up_percent"]) == (
            5,
            2,
            500_000,
            "50.0",
        )
        assert (main["median_days"], main["p90_days"]) == ("4.3", "5.3")
        assert body["total"]["determined"] == 6, "the entitlements of two years ago are not in this period"
        # Stuck is as of now, whatever the period; the request that expired long ago is settled.
        assert {g["reason"]: g["count"] for g in body["stuck"]} == {
            "企业已确认，待信用核查结果": 1,
            "因信用记录暂缓兑现": 1,
            "企业未确认": 1,
        }
        assert body["stuck_items"][0]["entitlement_id"] == str(forgotten.entitlement_id)
        assert body["stuck_items"][0]["days"] == 730
        oldest_unanswered = next(g for g in body["stuck"] if g["status"] == "awaiting_confirmation")["oldest"]
        assert oldest_unanswered["policy_id"] == HOSTILE_POLICY_ID and oldest_unanswered["days"] == 20

        narrowed = (await client.get("/performance", params={**params, "policy_id": HOSTILE_POLICY_ID})).json()
        assert [p["policy_id"] for p in narrowed["policies"]] == [HOSTILE_POLICY_ID]

        sheet = await client.get("/performance.csv", params=params)
        rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))
        assert rows[-1][1] == "合计" and rows[-1][3] == "6"
        page = await client.get("/performance.html", params=params)
        assert page.status_code == 200 and "&lt;script&gt;" in page.text

        whole_years = {"from": (now - 3 * 365 * DAY).date().isoformat(), "to": now.date().isoformat()}
        everything = (await client.get("/performance", params=whole_years)).json()
        assert everything["total"]["determined"] == 9
        assert (everything["total"]["declined"], everything["total"]["expired"]) == (2, 1)
        assert everything["total"]["confirmed"] == 4
