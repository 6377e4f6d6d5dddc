from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eligibility.models import Entitlement, Fact, Policy


class FakeEligibilityRepository:
    """In-memory stand-in for EligibilityRepository with the same rules of visibility."""

    def __init__(self) -> None:
        self.facts: dict[str, Fact] = {}
        self.policies: dict[str, Policy] = {}
        self.entitlements: dict[Any, Entitlement] = {}

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

    async def enterprises_entitled_under(self, policy_id: str) -> list[str]:
        return sorted({e.uscc for e in self.entitlements.values() if e.policy_id == policy_id and e.status == "active"})

    async def active_entitlements_under(self, policy_id: str) -> list[Entitlement]:
        return [e for e in self.entitlements.values() if e.policy_id == policy_id and e.status == "active"]

    async def add_entitlement(self, entitlement: Entitlement) -> None:
        self.entitlements[entitlement.entitlement_id] = entitlement

    async def entitlements_for(self, uscc: str) -> list[Entitlement]:
        return [e for e in self.entitlements.values() if e.uscc == uscc]
