"""All of policy-catalog's SQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from policy_catalog.models import PolicyVersion

# A policy is in force when the newest version that ever left draft is still published;
# retiring that version takes the policy out of force rather than reviving an older one.
_RELEASED = ("published", "retired")


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

    async def in_force(self, policy_id: str | None = None) -> list[PolicyVersion]:
        """The newest released version of each policy, where that version is published."""
        newest = sa.select(PolicyVersion.policy_id, sa.func.max(PolicyVersion.version).label("version")).where(
            PolicyVersion.status.in_(_RELEASED)
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
            .where(PolicyVersion.status == "published")
            .order_by(PolicyVersion.policy_id)
        )
        return list(rows)
