"""All of policy-catalog's SQL."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import AliasedClass

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

    async def next_due_announcement(self, today: date) -> PolicyVersion | None:
        """The first published, unannounced version whose effective date has come: the
        lowest such version of its policy, locked for this transaction.

        Another replica's transaction holding a row is passed over (SKIP LOCKED), and
        because a policy's later version is offered only once no earlier due one is
        left unannounced, a second replica can never overtake the first within a
        policy. SQLite renders no FOR UPDATE; it runs a single process.
        """
        earlier = aliased(PolicyVersion)
        earlier_due = (
            sa.select(earlier.version)
            .where(
                earlier.policy_id == PolicyVersion.policy_id,
                earlier.version < PolicyVersion.version,
                *_due(earlier, today),
            )
            .exists()
        )
        query = (
            sa.select(PolicyVersion)
            .where(*_due(PolicyVersion, today), ~earlier_due)
            .order_by(PolicyVersion.policy_id, PolicyVersion.version)
            .limit(1)
            .with_for_update(of=PolicyVersion, skip_locked=True)
        )
        return (await self._session.scalars(query)).first()

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


def _due(version: type[PolicyVersion] | AliasedClass[PolicyVersion], today: date) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        version.status == PolicyStatus.PUBLISHED.value,
        version.announced_at.is_(None),
        version.effective_from <= today,
    )
