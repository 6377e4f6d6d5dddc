"""All of eligibility's SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from eligibility.models import Entitlement, Fact, Policy


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

    async def enterprises_entitled_under(self, policy_id: str) -> list[str]:
        rows = await self._session.scalars(
            sa.select(Entitlement.uscc)
            .where(Entitlement.policy_id == policy_id, Entitlement.status == "active")
            .distinct()
        )
        return list(rows)

    async def active_entitlements_under(self, policy_id: str) -> list[Entitlement]:
        rows = await self._session.scalars(
            sa.select(Entitlement)
            .where(Entitlement.policy_id == policy_id, Entitlement.status == "active")
            .order_by(Entitlement.uscc, Entitlement.award_key)
        )
        return list(rows)

    async def add_entitlement(self, entitlement: Entitlement) -> None:
        self._session.add(entitlement)

    async def entitlements_for(self, uscc: str) -> list[Entitlement]:
        rows = await self._session.scalars(
            sa.select(Entitlement)
            .where(Entitlement.uscc == uscc)
            .order_by(Entitlement.policy_id, Entitlement.award_key)
        )
        return list(rows)
