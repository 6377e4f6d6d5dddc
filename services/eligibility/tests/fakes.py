from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from eligibility import service
from eligibility.models import AwardHistory, Entitlement, Fact, Overpayment, Policy, ReevaluationJob
from eligibility.repository import OPEN_JOB_STATUSES
from mianshen_shared.events.catalog import EntitlementDetermined, PolicyPublished, PolicyRetired


class FakeEligibilityRepository:
    """In-memory stand-in for EligibilityRepository with the same rules of visibility."""

    def __init__(self) -> None:
        self.facts: dict[str, Fact] = {}
        self.policies: dict[str, Policy] = {}
        self.entitlements: dict[Any, Entitlement] = {}
        self.history: dict[uuid.UUID, AwardHistory] = {}
        self.jobs: dict[uuid.UUID, ReevaluationJob] = {}
        self.overpayments: dict[tuple[uuid.UUID, int], Overpayment] = {}

    async def get_fact(self, record_id: str) -> Fact | None:
        return self.facts.get(record_id)

    async def add_fact(self, fact: Fact) -> None:
        self.facts[fact.record_id] = fact

    async def add_facts(self, facts: Sequence[Fact]) -> None:
        for fact in facts:
            self.facts[fact.record_id] = fact

    async def facts_by_ids(self, record_ids: Sequence[str]) -> list[Fact]:
        return [self.facts[r] for r in record_ids if r in self.facts]

    async def active_facts(self, uscc: str) -> list[Fact]:
        return sorted((f for f in self.facts.values() if f.uscc == uscc and not f.revoked), key=lambda f: f.record_id)

    async def active_facts_in(self, usccs: Sequence[str]) -> list[Fact]:
        return sorted(
            (f for f in self.facts.values() if f.uscc in usccs and not f.revoked), key=lambda f: (f.uscc, f.record_id)
        )

    async def active_facts_of(self, usccs: Sequence[str], record_types: Iterable[str]) -> list[Fact]:
        types = set(record_types)
        return [f for f in self.facts.values() if f.uscc in usccs and f.record_type in types and not f.revoked]

    async def enterprises_with(self, record_types: Iterable[str]) -> list[str]:
        types = set(record_types)
        return sorted({f.uscc for f in self.facts.values() if f.record_type in types and not f.revoked})

    async def get_policy(self, policy_id: str) -> Policy | None:
        return self.policies.get(policy_id)

    async def add_policy(self, policy: Policy) -> None:
        self.policies[policy.policy_id] = policy

    async def published_policy_versions(self) -> list[tuple[str, int]]:
        return sorted((p.policy_id, p.version) for p in self.policies.values() if p.status == "published")

    async def policy_documents(self, policy_ids: Sequence[str]) -> dict[tuple[str, int], dict[str, Any]]:
        return {(p.policy_id, p.version): p.document for p in self.policies.values() if p.policy_id in policy_ids}

    async def entitlements_of(self, usccs: Sequence[str], policy_ids: Sequence[str]) -> list[Entitlement]:
        return [e for e in self.entitlements.values() if e.uscc in usccs and e.policy_id in policy_ids]

    async def get_entitlement(self, entitlement_id: uuid.UUID) -> Entitlement | None:
        return self.entitlements.get(entitlement_id)

    async def add_entitlement(self, entitlement: Entitlement) -> None:
        self.entitlements[entitlement.entitlement_id] = entitlement

    async def entitlements_for(self, uscc: str) -> list[Entitlement]:
        return [e for e in self.entitlements.values() if e.uscc == uscc]

    async def history_of(self, usccs: Sequence[str], policy_ids: Sequence[str]) -> list[AwardHistory]:
        return sorted(
            (h for h in self.history.values() if h.uscc in usccs and h.policy_id in policy_ids),
            key=lambda h: (h.uscc, h.policy_id, h.paid_on, h.award_key),
        )

    async def get_award(self, entitlement_id: uuid.UUID) -> AwardHistory | None:
        return self.history.get(entitlement_id)

    async def add_award(self, award: AwardHistory) -> None:
        self.history[award.entitlement_id] = award

    async def get_overpayment(self, entitlement_id: uuid.UUID, due_fen: int) -> Overpayment | None:
        return self.overpayments.get((entitlement_id, due_fen))

    async def add_overpayment(self, overpayment: Overpayment) -> None:
        self.overpayments[(overpayment.entitlement_id, overpayment.due_fen)] = overpayment

    async def lock_evaluations(self, *, exclusive: bool) -> None:
        return None

    def _to_reevaluate(self, policy_id: str, record_types: Iterable[str]) -> list[str]:
        types = set(record_types)
        with_facts = {f.uscc for f in self.facts.values() if f.record_type in types and not f.revoked}
        entitled = {
            e.uscc
            for e in self.entitlements.values()
            if e.policy_id == policy_id and e.status == "active" and e.settled_at is None
        }
        return sorted(with_facts | entitled)

    async def count_enterprises_to_reevaluate(self, policy_id: str, record_types: Iterable[str]) -> int:
        return len(self._to_reevaluate(policy_id, record_types))

    async def enterprises_to_reevaluate(
        self, policy_id: str, record_types: Iterable[str], *, after: str | None, limit: int
    ) -> list[str]:
        return [u for u in self._to_reevaluate(policy_id, record_types) if after is None or u > after][:limit]

    async def add_job(self, job: ReevaluationJob) -> None:
        self.jobs[job.job_id] = job

    async def get_job(self, job_id: uuid.UUID) -> ReevaluationJob | None:
        return self.jobs.get(job_id)

    async def open_jobs_for(self, policy_id: str) -> list[ReevaluationJob]:
        return [j for j in self.jobs.values() if j.policy_id == policy_id and j.status in OPEN_JOB_STATUSES]

    async def next_job_id(self) -> uuid.UUID | None:
        open_jobs = [j for j in self.jobs.values() if j.status in OPEN_JOB_STATUSES]
        return min(open_jobs, key=lambda j: j.created_at).job_id if open_jobs else None

    async def lock_open_job(self, job_id: uuid.UUID) -> ReevaluationJob | None:
        job = self.jobs.get(job_id)
        return job if job is not None and job.status in OPEN_JOB_STATUSES else None


async def run_jobs(
    repo: FakeEligibilityRepository, *, batch: int = service.REEVALUATION_BATCH, now: datetime | None = None
) -> list[EntitlementDetermined]:
    """Every open re-evaluation job to its end, as the worker would; what was announced."""
    events: list[EntitlementDetermined] = []
    while (job_id := await repo.next_job_id()) is not None:
        chunk = await service.reevaluate_next_chunk(repo, job_id=job_id, batch=batch, now=now or datetime.now(UTC))
        assert chunk is not None
        events += chunk.determinations
    return events


async def publish(
    repo: FakeEligibilityRepository, event: PolicyPublished, *, now: datetime
) -> list[EntitlementDetermined]:
    """The policy.published handler, then its re-evaluation job run to the end."""
    await service.policy_published(repo, event=event, now=now, correlation_id="c-publish")
    return await run_jobs(repo, now=now)


async def retire(
    repo: FakeEligibilityRepository, event: PolicyRetired, *, now: datetime
) -> list[EntitlementDetermined]:
    await service.policy_retired(repo, event=event, now=now, correlation_id="c-retire")
    return await run_jobs(repo, now=now)
