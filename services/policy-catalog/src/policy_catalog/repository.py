"""All of policy-catalog's SQL."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from policy_catalog.models import PolicyStatus, PolicyTransition, PolicyVersion

_RELEASED = (PolicyStatus.PUBLISHED.value, PolicyStatus.RETIRED.value)


class PolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, policy_id: str, version: int) -> PolicyVersion | None:
        return await self._session.get(PolicyVersion, (policy_id, version))

    async def add(self, policy: PolicyVersion) -> None:
        self._session.add(policy)
        await self._session.flush()

    async def versions(self, policy_id: str) -> list[PolicyVersion]:
        rows = await self._session.scalars(
            sa.select(PolicyVersion).where(PolicyVersion.policy_id == policy_id).order_by(PolicyVersion.version)
        )
        return list(rows)

    async def in_force(self, on: date, policy_id: str | None = None) -> list[PolicyVersion]:
        """Per policy, the version in force on `on` (see service.py for the rule)."""
        never_retired = PolicyVersion.retired_on.is_(None)
        took_effect = sa.or_(never_retired, PolicyVersion.retired_on >= PolicyVersion.effective_from)
        newest = sa.select(PolicyVersion.policy_id, sa.func.max(PolicyVersion.version).label("version")).where(
            PolicyVersion.status.in_(_RELEASED), PolicyVersion.effective_from <= on, took_effect
        )
        if policy_id is not None:
            newest = newest.where(PolicyVersion.policy_id == policy_id)
        newest_sq = newest.group_by(PolicyVersion.policy_id).subquery()
        rows = await self._session.scalars(
            sa.select(PolicyVersion)
            .join(
                newest_sq,
                sa.and_(
                    PolicyVersion.policy_id == newest_sq.c.policy_id,
                    PolicyVersion.version == newest_sq.c.version,
                ),
            )
            .where(sa.or_(never_retired, PolicyVersion.retired_on > on))
            .order_by(PolicyVersion.policy_id)
        )
        return list(rows)

    async def add_transition(self, transition: PolicyTransition) -> None:
        self._session.add(transition)
        await self._session.flush()

    async def transitions(self, policy_id: str, version: int) -> list[PolicyTransition]:
        rows = await self._session.scalars(
            sa.select(PolicyTransition)
            .where(PolicyTransition.policy_id == policy_id, PolicyTransition.version == version)
            .order_by(PolicyTransition.id)
        )
        return list(rows)
