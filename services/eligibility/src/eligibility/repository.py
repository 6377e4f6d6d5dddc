"""All of eligibility's SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from eligibility.models import AwardHistory, Entitlement, Fact, FeedDay, Overpayment, Policy, ReevaluationJob
from eligibility.supervision import DayCount

# Jobs a worker still has to finish.
OPEN_JOB_STATUSES = ("queued", "running")


class EligibilityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- facts

    async def get_fact(self, record_id: str) -> Fact | None:
        return await self._session.get(Fact, record_id)

    async def add_fact(self, fact: Fact) -> None:
        self._session.add(fact)
        await self._session.flush()

    async def add_facts(self, facts: Sequence[Fact]) -> None:
        self._session.add_all(facts)
        await self._session.flush()

    async def facts_by_ids(self, record_ids: Sequence[str]) -> list[Fact]:
        rows = await self._session.scalars(sa.select(Fact).where(Fact.record_id.in_(record_ids)))
        return list(rows)

    async def active_facts(self, uscc: str) -> list[Fact]:
        rows = await self._session.scalars(
            sa.select(Fact).where(Fact.uscc == uscc, Fact.revoked.is_(False)).order_by(Fact.record_id)
        )
        return list(rows)

    async def active_facts_in(self, usccs: Sequence[str]) -> list[Fact]:
        rows = await self._session.scalars(
            sa.select(Fact).where(Fact.uscc.in_(usccs), Fact.revoked.is_(False)).order_by(Fact.uscc, Fact.record_id)
        )
        return list(rows)

    async def active_facts_of(self, usccs: Sequence[str], record_types: Iterable[str]) -> list[Fact]:
        rows = await self._session.scalars(
            sa.select(Fact)
            .where(Fact.uscc.in_(usccs), Fact.record_type.in_(list(record_types)), Fact.revoked.is_(False))
            .order_by(Fact.uscc, Fact.record_id)
        )
        return list(rows)

    async def enterprises_with(self, record_types: Iterable[str]) -> list[str]:
        rows = await self._session.scalars(
            sa.select(Fact.uscc).where(Fact.record_type.in_(list(record_types)), Fact.revoked.is_(False)).distinct()
        )
        return list(rows)

    async def facts_for(self, uscc: str) -> list[Fact]:
        rows = await self._session.scalars(
            sa.select(Fact).where(Fact.uscc == uscc).order_by(Fact.effective_date, Fact.record_id)
        )
        return list(rows)

    # --- policies

    async def get_policy(self, policy_id: str) -> Policy | None:
        return await self._session.get(Policy, policy_id)

    async def add_policy(self, policy: Policy) -> None:
        self._session.add(policy)

    async def published_policy_versions(self) -> list[tuple[str, int]]:
        rows = await self._session.execute(
            sa.select(Policy.policy_id, Policy.version).where(Policy.status == "published").order_by(Policy.policy_id)
        )
        return [(policy_id, version) for policy_id, version in rows]

    async def policy_documents(self, policy_ids: Sequence[str]) -> dict[tuple[str, int], dict[str, Any]]:
        rows = await self._session.execute(
            sa.select(Policy.policy_id, Policy.version, Policy.document).where(Policy.policy_id.in_(policy_ids))
        )
        return {(policy_id, version): document for policy_id, version, document in rows}

    # --- entitlements

    async def entitlements_of(self, usccs: Sequence[str], policy_ids: Sequence[str]) -> list[Entitlement]:
        rows = await self._session.scalars(
            sa.select(Entitlement).where(Entitlement.uscc.in_(usccs), Entitlement.policy_id.in_(policy_ids))
        )
        return list(rows)

    async def get_entitlement(self, entitlement_id: uuid.UUID) -> Entitlement | None:
        return await self._session.scalar(
            sa.select(Entitlement).where(Entitlement.entitlement_id == entitlement_id).with_for_update()
        )

    async def add_entitlement(self, entitlement: Entitlement) -> None:
        self._session.add(entitlement)

    async def entitlements_for(self, uscc: str) -> list[Entitlement]:
        rows = await self._session.scalars(
            sa.select(Entitlement)
            .where(Entitlement.uscc == uscc)
            .order_by(Entitlement.policy_id, Entitlement.award_key)
        )
        return list(rows)

    # --- award history

    async def history_of(self, usccs: Sequence[str], policy_ids: Sequence[str]) -> list[AwardHistory]:
        rows = await self._session.scalars(
            sa.select(AwardHistory)
            .where(AwardHistory.uscc.in_(usccs), AwardHistory.policy_id.in_(policy_ids))
            .order_by(AwardHistory.uscc, AwardHistory.policy_id, AwardHistory.paid_on, AwardHistory.award_key)
        )
        return list(rows)

    async def get_award(self, entitlement_id: uuid.UUID) -> AwardHistory | None:
        return await self._session.get(AwardHistory, entitlement_id)

    async def add_award(self, award: AwardHistory) -> None:
        self._session.add(award)
        await self._session.flush()

    # --- 回头看 (overpayments)

    async def get_overpayment(self, entitlement_id: uuid.UUID, due_fen: int) -> Overpayment | None:
        return await self._session.get(Overpayment, (entitlement_id, due_fen))

    async def add_overpayment(self, overpayment: Overpayment) -> None:
        self._session.add(overpayment)
        await self._session.flush()

    # --- re-evaluation

    async def lock_evaluations(self, *, exclusive: bool) -> None:
        """Serialise a re-evaluation chunk (exclusive) with the consumer's handlers
        (shared, so replicas' consumers never wait for each other): both read
        entitlements and write what differs, and must not interleave. SQLite has a
        single writer and needs nothing."""
        if self._session.get_bind().dialect.name != "postgresql":
            return
        lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        await self._session.execute(sa.text(f"SELECT {lock}(hashtext('eligibility-evaluation'))"))

    def _enterprises_query(self, policy_id: str, record_types: Iterable[str]) -> Any:
        """Enterprises a re-evaluation of the policy concerns: those with facts of its
        record types (none for a retired policy) and those holding an active,
        unsettled entitlement under it."""
        entitled = sa.select(Entitlement.uscc.label("uscc")).where(
            Entitlement.policy_id == policy_id, Entitlement.status == "active", Entitlement.settled_at.is_(None)
        )
        types = list(record_types)
        if not types:
            return entitled.subquery()
        with_facts = sa.select(Fact.uscc.label("uscc")).where(Fact.record_type.in_(types), Fact.revoked.is_(False))
        return sa.union(with_facts, entitled).subquery()

    async def count_enterprises_to_reevaluate(self, policy_id: str, record_types: Iterable[str]) -> int:
        q = self._enterprises_query(policy_id, record_types)
        return int(await self._session.scalar(sa.select(sa.func.count(sa.distinct(q.c.uscc)))) or 0)

    async def enterprises_to_reevaluate(
        self, policy_id: str, record_types: Iterable[str], *, after: str | None, limit: int
    ) -> list[str]:
        q = self._enterprises_query(policy_id, record_types)
        stmt = sa.select(q.c.uscc).distinct().order_by(q.c.uscc).limit(limit)
        if after is not None:
            stmt = stmt.where(q.c.uscc > after)
        return list(await self._session.scalars(stmt))

    async def add_job(self, job: ReevaluationJob) -> None:
        self._session.add(job)
        await self._session.flush()

    async def get_job(self, job_id: uuid.UUID) -> ReevaluationJob | None:
        return await self._session.get(ReevaluationJob, job_id)

    async def open_jobs_for(self, policy_id: str) -> list[ReevaluationJob]:
        rows = await self._session.scalars(
            sa.select(ReevaluationJob)
            .where(ReevaluationJob.policy_id == policy_id, ReevaluationJob.status.in_(OPEN_JOB_STATUSES))
            .with_for_update()
        )
        return list(rows)

    async def next_job_id(self) -> uuid.UUID | None:
        return await self._session.scalar(
            sa.select(ReevaluationJob.job_id)
            .where(ReevaluationJob.status.in_(OPEN_JOB_STATUSES))
            .order_by(ReevaluationJob.created_at, ReevaluationJob.job_id)
            .limit(1)
        )

    async def lock_open_job(self, job_id: uuid.UUID) -> ReevaluationJob | None:
        """The job, locked and read afresh (another replica may have moved it on), if still open."""
        return await self._session.scalar(
            sa.select(ReevaluationJob)
            .where(ReevaluationJob.job_id == job_id, ReevaluationJob.status.in_(OPEN_JOB_STATUSES))
            .with_for_update()
            .execution_options(populate_existing=True)
        )

    async def jobs(self, *, limit: int, offset: int) -> tuple[list[ReevaluationJob], int]:
        rows = await self._session.scalars(
            sa.select(ReevaluationJob)
            .order_by(ReevaluationJob.created_at.desc(), ReevaluationJob.job_id.desc())
            .limit(limit)
            .offset(offset)
        )
        total = await self._session.scalar(sa.select(sa.func.count()).select_from(ReevaluationJob))
        return list(rows), int(total or 0)

    # --- feed supervision (数据共享督办)

    async def add_feed_counts(self, counts: Sequence[DayCount]) -> None:
        """Add to the day rows, creating them as needed, in one atomic upsert per row, so
        replicas and the dead-letter hook may count the same department and day at once.
        Rows are written in key order so two transactions never wait on each other in a circle."""
        if not counts:
            return
        insert = postgresql.insert if self._session.get_bind().dialect.name == "postgresql" else sqlite.insert
        for count in sorted(counts, key=lambda c: (c.department, c.day, c.record_type, c.outcome, c.reason)):
            stmt = insert(FeedDay).values(
                department=count.department,
                day=count.day,
                record_type=count.record_type,
                outcome=count.outcome,
                reason=count.reason,
                records=count.records,
                first_at=count.first_at,
                last_at=count.last_at,
            )
            new = stmt.excluded
            await self._session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["department", "day", "record_type", "outcome", "reason"],
                    set_={
                        "records": FeedDay.records + new.records,
                        "first_at": sa.case((new.first_at < FeedDay.first_at, new.first_at), else_=FeedDay.first_at),
                        "last_at": sa.case((new.last_at > FeedDay.last_at, new.last_at), else_=FeedDay.last_at),
                    },
                )
            )

    async def feed_counts_since(self, day: date, department: str | None = None) -> list[DayCount]:
        stmt = sa.select(FeedDay).where(FeedDay.day >= day)
        if department is not None:
            stmt = stmt.where(FeedDay.department == department)
        rows = await self._session.scalars(stmt.order_by(FeedDay.department, FeedDay.day))
        return [
            DayCount(
                department=r.department,
                day=r.day,
                record_type=r.record_type,
                outcome="accepted" if r.outcome == "accepted" else "rejected",
                reason=r.reason,
                records=r.records,
                first_at=r.first_at,
                last_at=r.last_at,
            )
            for r in rows
        ]

    async def last_arrivals(self) -> dict[str, datetime]:
        """When each department's latest accepted record arrived, however long ago."""
        rows = await self._session.execute(
            sa.select(FeedDay.department, sa.func.max(FeedDay.last_at))
            .where(FeedDay.outcome == "accepted")
            .group_by(FeedDay.department)
        )
        return {department: last for department, last in rows}
