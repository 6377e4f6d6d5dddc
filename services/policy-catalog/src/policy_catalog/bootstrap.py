"""Composition root: the one place where policy-catalog is wired together."""

from __future__ import annotations

from mianshen_shared.runtime import Runtime, build_runtime
from policy_catalog.announcer import policy_announcer
from policy_catalog.config import Settings
from policy_catalog.handlers import CONSUMED_TOPICS, HANDLERS
from policy_catalog.models import Base


def bootstrap(settings: Settings | None = None) -> Runtime:
    return build_runtime(
        settings or Settings(),
        Base.metadata,
        "policy_catalog.migrations",
        handlers=HANDLERS,
        consumed_topics=CONSUMED_TOPICS,
        extra_tasks=[policy_announcer],
    )
