from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from policy_catalog.models import PolicyStatus, PolicyTransition, PolicyVersion

_RELEASED = (PolicyStatus.PUBLISHED, PolicyStatus.RETIRED)


class FakePolicyRepository:
    """In-memory stand-in for PolicyRepository with the same rule of what is in force."""

    def __init__(self) -> None:
        self.policies: dict[tuple[str, int], PolicyVersion] = {}
        self.history: list[PolicyTransition] = []
        self._ids = itertools.count(1)

    async def get(self, policy_id: str, version: int) -> PolicyVersion | None:
        return self.policies.get((policy_id, version))

    async def add(self, policy: PolicyVersion) -> None:
        self.policies[(policy.policy_id, policy.version)] = policy

    async def versions(self, policy_id: str) -> list[PolicyVersion]:
        return sorted((p for p in self.policies.values() if p.policy_id == policy_id), key=lambda p: p.version)

    async def in_force(self, on: date, policy_id: str | None = None) -> list[PolicyVersion]:
        def candidate(p: PolicyVersion) -> bool:
            took_effect = p.retired_on is None or (p.effective_from is not None and p.retired_on >= p.effective_from)
            return (
                p.status in _RELEASED
                and policy_id in (None, p.policy_id)
                and p.effective_from is not None
                and p.effective_from <= on
                and took_effect
            )

        newest: dict[str, PolicyVersion] = {}
        for p in sorted(filter(candidate, self.policies.values()), key=lambda p: p.version):
            newest[p.policy_id] = p
        return [p for _, p in sorted(newest.items()) if p.retired_on is None or p.retired_on > on]

    async def next_due_announcement(self, today: date) -> PolicyVersion | None:
        due = [
            p
            for p in self.policies.values()
            if p.status == PolicyStatus.PUBLISHED
            and p.announced_at is None
            and p.effective_from is not None
            and p.effective_from <= today
        ]
        return min(due, key=lambda p: (p.policy_id, p.version), default=None)

    async def add_transition(self, transition: PolicyTransition) -> None:
        transition.id = next(self._ids)
        self.history.append(transition)

    async def transitions(self, policy_id: str, version: int) -> list[PolicyTransition]:
        return [t for t in self.history if (t.policy_id, t.version) == (policy_id, version)]


class RecordingEmitter:
    """Collects what the service emits, as the outbox would."""

    def __init__(self) -> None:
        self.emitted: list[tuple[Any, str]] = []

    async def __call__(self, payload: Any, *, key: str) -> None:
        self.emitted.append((payload, key))
