"""Composition root: the one place where payment is wired together."""

from __future__ import annotations

from mianshen_shared.runtime import Runtime, build_runtime
from payment.config import Settings
from payment.handlers import CONSUMED_TOPICS, HANDLERS
from payment.models import Base
from payment.worker import payment_worker


def bootstrap(settings: Settings | None = None) -> Runtime:
    return build_runtime(
        settings or Settings(),
        Base.metadata,
        "payment.migrations",
        handlers=HANDLERS,
        consumed_topics=CONSUMED_TOPICS,
        extra_tasks=[payment_worker],
    )
