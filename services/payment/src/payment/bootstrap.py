"""Composition root: the one place where payment is wired together."""

from __future__ import annotations

from mianshen_shared.runtime import Runtime, build_runtime
from payment import terms
from payment.budget import budget_gauge
from payment.config import Settings
from payment.handlers import CONSUMED_TOPICS, HANDLERS
from payment.models import Base
from payment.notice import notice_sweeper
from payment.worker import payment_worker


def bootstrap(settings: Settings | None = None) -> Runtime:
    settings = settings or Settings()
    terms.override_notice_days(settings.notice_working_days_override)
    return build_runtime(
        settings,
        Base.metadata,
        "payment.migrations",
        handlers=HANDLERS,
        consumed_topics=CONSUMED_TOPICS,
        extra_tasks=[payment_worker, notice_sweeper, budget_gauge],
    )
