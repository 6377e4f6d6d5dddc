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
