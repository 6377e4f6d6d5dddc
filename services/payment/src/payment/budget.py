"""预算额度 — how much each policy may pay in a fiscal year, and how much is committed.

A budget row per (policy, fiscal year = Asia/Shanghai calendar year) holds the
allocation (`total_fen`), what payments on their way to the finance system have
reserved and what has been spent. A payment reserves its amount once, right
before its first submission; settlement turns the reservation into spending, a
final failure releases it, a returned payment gives its spending back. When a
reservation does not fit, the payment waits in stage `budget_exhausted` until
the allocation is raised.

Allocations come from an operator (`PUT /operator/budgets/{policy}/{year}`), from
the finance system (`python -m payment.budget sync --year Y`) or, when nothing
was set, from the city file's `budgets:` as the initial allocation.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from mianshen_shared import city, db, observability
from mianshen_shared.problems import ProblemError
from mianshen_shared.runtime import Runtime
from payment.config import Settings
from payment.models import Budget, BudgetChange
from payment.money_repository import BudgetRepository

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
BUDGETS_PATH = "/api/v1/budgets"
SOURCE_CITY, SOURCE_OPERATOR, SOURCE_FINANCE = "city", "operator", "finance"
FINANCE_ACTOR = "finance-sync"

Seed = Mapping[str, Mapping[int, int]]


def fiscal_year_of(moment: datetime) -> int:
    return moment.astimezone(SHANGHAI).year


def city_seed() -> Seed:
    return city.current().budgets


@dataclass(frozen=True)
class Burn:
    policy_id: str
    fiscal_year: int
    budget_code: str | None
    total_fen: int
    reserved_fen: int
    spent_fen: int
    waiting: int
    source: str

    @property
    def remaining_fen(self) -> int:
        return self.total_fen - self.reserved_fen - self.spent_fen


async def reserve(
    repo: BudgetRepository, *, policy_id: str, fiscal_year: int, amount_fen: int, now: datetime, seed: Seed
) -> bool:
    """Reserve `amount_fen` if the budget has room; the city's figure becomes the
    allocation the first time a policy's budget is drawn on."""
    if await repo.reserve(policy_id, fiscal_year, amount_fen, now):
        return True
    initial = seed.get(policy_id, {}).get(fiscal_year)
    if initial is None or await repo.get(policy_id, fiscal_year) is not None:
        return False
    await repo.create_if_absent(policy_id, fiscal_year, initial, SOURCE_CITY, now)
    return await repo.reserve(policy_id, fiscal_year, amount_fen, now)


async def set_allocation(
    repo: BudgetRepository,
    *,
    policy_id: str,
    fiscal_year: int,
    total_fen: int,
    actor: str,
    reason: str,
    now: datetime,
    source: str = SOURCE_OPERATOR,
    budget_code: str | None = None,
) -> Budget:
    """Set a policy's allocation for a year. It may not fall below what is already
    reserved or spent; raising it lets waiting payments go, the oldest first."""
    existing = await repo.get_for_update(policy_id, fiscal_year)
    previous = existing.total_fen if existing is not None else None
    created = existing is None and await repo.create_if_absent(policy_id, fiscal_year, total_fen, source, now)
    # A new row still needs its budget code; an existing one is updated only within what it committed.
    if (not created or budget_code is not None) and not await repo.set_total(
        policy_id, fiscal_year, total_fen, source, budget_code, now
    ):
        current = await repo.get(policy_id, fiscal_year)
        committed = (current.reserved_fen + current.spent_fen) if current is not None else 0
        raise ProblemError(
            409,
            "budget_below_committed",
            f"预算额度不能低于已占用（预留+已支付）金额：{committed}分",
            committed_fen=committed,
        )
    await repo.add_change(
        BudgetChange(
            policy_id=policy_id,
            fiscal_year=fiscal_year,
            previous_total_fen=previous,
            total_fen=total_fen,
            source=source,
            actor=actor,
            reason=reason,
            changed_at=now,
        )
    )
    if previous is None or total_fen > previous:
        await repo.wake_waiting(policy_id, fiscal_year)
    budget = await repo.get(policy_id, fiscal_year)
    assert budget is not None
    return budget


async def burn(repo: BudgetRepository, *, fiscal_year: int, seed: Seed) -> list[Burn]:
    """Every policy with money or waiting payments in the year; a city figure not
    yet drawn on shows as an untouched allocation."""
    rows = {b.policy_id: b for b in await repo.for_year(fiscal_year)}
    waiting = await repo.waiting_counts(fiscal_year)
    policies = set(rows) | set(waiting) | {p for p, years in seed.items() if fiscal_year in years}
    out = []
    for policy_id in sorted(policies):
        row = rows.get(policy_id)
        if row is not None:
            out.append(
                Burn(
                    policy_id,
                    fiscal_year,
                    row.budget_code,
                    row.total_fen,
                    row.reserved_fen,
                    row.spent_fen,
                    waiting.get(policy_id, 0),
                    row.source,
                )
            )
        else:
            total = seed.get(policy_id, {}).get(fiscal_year, 0)
            out.append(Burn(policy_id, fiscal_year, None, total, 0, 0, waiting.get(policy_id, 0), SOURCE_CITY))
    return out


# --- the finance system's allocations ------------------------------------------------


@dataclass(frozen=True)
class Allocation:
    budget_code: str
    policy_id: str
    amount_fen: int


async def fetch_allocations(client: httpx.AsyncClient, fiscal_year: int) -> list[Allocation]:
    response = await client.get(BUDGETS_PATH, params={"year": str(fiscal_year)})
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return [
        Allocation(str(a["budget_code"]), str(a["policy_id"]), int(a["amount_fen"]))
        for a in body.get("allocations", [])
    ]


async def apply_allocations(
    repo: BudgetRepository, allocations: list[Allocation], *, fiscal_year: int, now: datetime
) -> dict[str, str]:
    """What happened to each policy's allocation: set, unchanged or refused (with why)."""
    results: dict[str, str] = {}
    for allocation in allocations:
        current = await repo.get(allocation.policy_id, fiscal_year)
        if current is not None and current.total_fen == allocation.amount_fen and current.source == SOURCE_FINANCE:
            results[allocation.policy_id] = "unchanged"
            continue
        try:
            await set_allocation(
                repo,
                policy_id=allocation.policy_id,
                fiscal_year=fiscal_year,
                total_fen=allocation.amount_fen,
                actor=FINANCE_ACTOR,
                reason=f"财政系统下达预算指标（{allocation.budget_code}）",
                now=now,
                source=SOURCE_FINANCE,
                budget_code=allocation.budget_code,
            )
            results[allocation.policy_id] = "set"
        except ProblemError as exc:
            results[allocation.policy_id] = f"refused: {exc.detail}"
    return results


# --- the burn gauge --------------------------------------------------------------------


async def refresh_gauge(repo: BudgetRepository) -> None:
    for row in await repo.all():
        observability.BUDGET_SPENT.labels(row.policy_id, str(row.fiscal_year)).set(row.spent_fen)


async def budget_gauge(runtime: Runtime) -> None:
    """Background task: `mianshen_budget_spent_fen` from the database, so every replica
    exports the same figure whichever of them paid."""
    settings = runtime.settings
    interval_seconds = settings.budget_gauge_seconds if isinstance(settings, Settings) else 30.0
    while True:
        try:
            async with db.transaction(runtime.sessions) as session:
                await refresh_gauge(BudgetRepository(session))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not refresh the budget gauge")
        await asyncio.sleep(interval_seconds)


# --- CLI --------------------------------------------------------------------------------


async def sync(
    settings: Settings, fiscal_year: int, *, transport: httpx.AsyncBaseTransport | None = None
) -> dict[str, str]:
    async with httpx.AsyncClient(
        base_url=settings.finance_url, timeout=settings.finance_timeout_seconds, transport=transport
    ) as client:
        allocations = await fetch_allocations(client, fiscal_year)
    engine = db.make_engine(settings.database_url)
    try:
        async with db.transaction(db.make_sessionmaker(engine)) as session:
            return await apply_allocations(
                BudgetRepository(session), allocations, fiscal_year=fiscal_year, now=datetime.now(UTC)
            )
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m payment.budget", description="预算额度：从财政系统同步")
    commands = parser.add_subparsers(dest="command", required=True)
    sync_parser = commands.add_parser("sync", help="拉取财政系统下达的预算指标")
    sync_parser.add_argument("--year", type=int, default=fiscal_year_of(datetime.now(UTC)))
    args = parser.parse_args(argv)
    results = asyncio.run(sync(Settings(), args.year))
    for policy_id, outcome in sorted(results.items()):
        print(f"{policy_id}\t{outcome}")
    return 1 if any(o.startswith("refused") for o in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
