"""Prometheus metrics shared by every service (each process has its own registry)."""

from __future__ import annotations

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
