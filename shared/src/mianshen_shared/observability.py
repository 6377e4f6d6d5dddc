"""Prometheus metrics shared by every service (each process has its own registry)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "mianshen_http_requests_total", "HTTP requests by route and status", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "mianshen_http_request_duration_seconds",
    "HTTP request latency by route",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_CONSUMED = Counter(
    "mianshen_events_consumed_total", "Events consumed by type and outcome", ["service", "event_type", "outcome"]
)
DEAD_LETTERED = Counter("mianshen_dead_lettered_total", "Messages sent to the dead-letter topic", ["service", "reason"])
OUTBOX_PUBLISHED = Counter("mianshen_outbox_published_total", "Outbox rows published", ["service"])
OUTBOX_BACKLOG = Gauge("mianshen_outbox_backlog", "Outbox rows waiting to be published", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "mianshen_outbox_oldest_age_seconds", "Age of the oldest row in the last published batch", ["service"]
)

# --- the contract with deploy/observability (dashboards, alert rules) -----------------
# Every name below is used by a dashboard panel or an alert rule; a test checks that
# those use nothing else. Amounts are fen, as everywhere.

CONSUMER_LAG = Gauge(
    "mianshen_consumer_lag_messages",
    "Messages between a consumer group's committed offset and the end of the partition",
    ["service", "topic", "partition"],
)
OUTBOX_OLDEST_UNPUBLISHED_AGE = Gauge(
    "mianshen_outbox_oldest_unpublished_age_seconds",
    "Age of the oldest outbox row not yet published (0 when none is waiting)",
    ["service"],
)
DETERMINATIONS = Counter(
    "mianshen_determinations_total", "Entitlements determined, by policy and change", ["policy_id", "change"]
)
DETERMINED_AMOUNT = Counter(
    "mianshen_determined_amount_fen_total", "Amounts of new or raised entitlements, in fen", ["policy_id"]
)
CONFIRMATIONS = Counter(
    "mianshen_confirmations_total",
    "意愿确认 requests by policy and outcome (requested, accepted, declined, expired, closed)",
    ["policy_id", "outcome"],
)
PAYMENTS = Counter(
    "mianshen_payments_total",
    "Payments by policy and outcome (submitted, succeeded, failed, returned, held)",
    ["policy_id", "outcome"],
)
PAID_AMOUNT = Counter("mianshen_paid_amount_fen_total", "Amounts paid, in fen", ["policy_id"])
BUDGET = Gauge(
    "mianshen_budget_fen", "A policy's budget for a fiscal year, in fen (from the city)", ["policy_id", "fiscal_year"]
)
BUDGET_SPENT = Gauge(
    "mianshen_budget_spent_fen",
    "Paid against a policy's budget for a fiscal year, in fen (payment's budget table, refreshed periodically)",
    ["policy_id", "fiscal_year"],
)
FUNNEL_STEP = Histogram(
    "mianshen_funnel_step_seconds",
    "Time an entitlement spends in each step of 免申即享: "
    "notify (determined → requested), confirm (requested → accepted), "
    "credit (accepted → cleared), pay (cleared → paid), total (determined → paid)",
    ["policy_id", "step"],
    buckets=(1, 10, 60, 600, 3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400, 90 * 86400),
)
FEED_RECORDS = Counter(
    "mianshen_feed_records_total",
    "Department records by department, record type and outcome (accepted, rejected)",
    ["department", "record_type", "outcome"],
)
FEED_LAST_RECORD = Gauge(
    "mianshen_feed_last_record_timestamp_seconds",
    "Unix time of the last record accepted from each department",
    ["department"],
)
FEED_EXPECTED_INTERVAL = Gauge(
    "mianshen_feed_expected_interval_seconds",
    "Longest gap the agreed schedule allows between two pushes of a department (incl. grace)",
    ["department"],
)

# --- helpers ----------------------------------------------------------------------------

_EXPORTED: tuple[Counter | Gauge | Histogram, ...] = (
    HTTP_REQUESTS,
    HTTP_LATENCY,
    EVENTS_CONSUMED,
    DEAD_LETTERED,
    OUTBOX_PUBLISHED,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    CONSUMER_LAG,
    OUTBOX_OLDEST_UNPUBLISHED_AGE,
    DETERMINATIONS,
    DETERMINED_AMOUNT,
    CONFIRMATIONS,
    PAYMENTS,
    PAID_AMOUNT,
    BUDGET,
    BUDGET_SPENT,
    FUNNEL_STEP,
    FEED_RECORDS,
    FEED_LAST_RECORD,
    FEED_EXPECTED_INTERVAL,
)


def _declared_name(metric: Counter | Gauge | Histogram) -> str:
    # prometheus_client keeps a counter's name without its `_total`.
    name: str = metric._name
    return f"{name}_total" if isinstance(metric, Counter) else name


def _series(metric: Counter | Gauge | Histogram) -> set[str]:
    name: str = metric._name
    if isinstance(metric, Counter):
        return {f"{name}_total"}
    if isinstance(metric, Histogram):
        return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return {name}


# Every metric a service process exports, as declared above: what dashboards and
# alert rules may name.
CONTRACT_METRICS: frozenset[str] = frozenset(_declared_name(m) for m in _EXPORTED)
# The series names PromQL sees for them (a histogram is queried by `_bucket`, ...).
CONTRACT_SERIES: frozenset[str] = frozenset(s for m in _EXPORTED for s in _series(m))

# Domain metrics recorded during a unit of work wait here for its commit, so a
# rolled-back transaction (or a batch retried event by event) counts nothing.
_pending: ContextVar[list[Callable[[], None]] | None] = ContextVar("mianshen_metrics_pending", default=None)


def on_commit(record: Callable[[], None]) -> None:
    """Run `record` when the unit of work in hand commits; at once outside one."""
    pending = _pending.get()
    if pending is None:
        record()
    else:
        pending.append(record)


@contextmanager
def recorded_on_commit() -> Iterator[None]:
    """Wrap a transaction (commit included): what `on_commit` collected inside is
    recorded only if the block ends without an exception."""
    pending: list[Callable[[], None]] = []
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
    for record in pending:
        record()


def count_emitted(event_type: str, data: Mapping[str, Any]) -> None:
    """The domain counters an event stands for, counted once it is committed to the
    outbox. Outcomes without an event of their own (a decline's or an expiry's policy,
    a payment submitted or held) are counted by their services."""
    if event_type == "entitlement.determined":
        policy_id = str(data["policy_id"])
        DETERMINATIONS.labels(policy_id, data["change"]).inc()
        raised = int(data["amount_fen"]) - int(data.get("previous_amount_fen") or 0)
        if data["change"] != "withdrawn" and raised > 0:
            # New money only: a counter cannot go down, so a reduction adds nothing.
            DETERMINED_AMOUNT.labels(policy_id).inc(raised)
    elif event_type == "confirmation.requested":
        CONFIRMATIONS.labels(str(data["policy_id"]), "requested").inc()
    elif event_type == "confirmation.accepted":
        CONFIRMATIONS.labels(str(data["policy_id"]), "accepted").inc()
    elif event_type == "payment.issued":
        PAYMENTS.labels(str(data["policy_id"]), "succeeded").inc()
        PAID_AMOUNT.labels(str(data["policy_id"])).inc(int(data["amount_fen"]))
    elif event_type == "payment.failed":
        PAYMENTS.labels(str(data["policy_id"]), "failed").inc()


def observe_step(policy_id: str, step: str, started: datetime, ended: datetime) -> None:
    """One step of the 免申即享 funnel, observed once the unit of work commits.
    Naive timestamps (SQLite hands them back so) are UTC."""
    seconds = max((_aware(ended) - _aware(started)).total_seconds(), 0.0)
    on_commit(lambda: FUNNEL_STEP.labels(policy_id, step).observe(seconds))


def export_budgets(budgets: Mapping[str, Mapping[int, int]]) -> None:
    """The city's budgets (policy id → fiscal year → fen) as `mianshen_budget_fen`."""
    for policy_id, years in budgets.items():
        for fiscal_year, fen in years.items():
            BUDGET.labels(policy_id, str(fiscal_year)).set(fen)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
