from __future__ import annotations

from typing import Any

from policy_catalog.models import PolicyVersion


class FakePolicyRepository:
    """In-memory stand-in for PolicyRepository with the same rule of what is in force."""

    def __init__(self) -> None:
        self.policies: dict[tuple[str, int], PolicyVersion] = {}

    async def get(self, policy_id: str, version: int) -> PolicyVersion | None:
        return self.policies.get((policy_id, version))

    async def add(self, policy: PolicyVersion) -> None:
        self.policies[(policy.policy_id, policy.version)] = policy

    async def versions(self, policy_id: str) -> list[PolicyVersion]:
        return sorted((p for p in self.policies.values() if p.policy_id == policy_id), key=lambda p: p.version)

    async def in_force(self, policy_id: str | None = None) -> list[PolicyVersion]:
        newest: dict[str, PolicyVersion] = {}
        released = [p for p in self.policies.values() if p.status != "draft" and policy_id in (None, p.policy_id)]
        for p in sorted(released, key=lambda p: p.version):
            newest[p.policy_id] = p
        return [p for _, p in sorted(newest.items()) if p.status == "published"]


class RecordingEmitter:
    """Collects what the service emits, as the outbox would."""

    def __init__(self) -> None:
        self.emitted: list[tuple[Any, str]] = []

    async def __call__(self, payload: Any, *, key: str) -> None:
        self.emitted.append((payload, key))
