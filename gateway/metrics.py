"""Prometheus metrics, one registry per process."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "gateway_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "gateway_http_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CHECKS = Counter("gateway_checks_total", "Pre-call checks by decision", ["decision"])
CHECK_REASONS = Counter("gateway_check_reasons_total", "Deny reasons given", ["reason"])
CHECK_LATENCY = Histogram(
    "gateway_check_seconds",
    "Pre-call check latency, request to durable answer",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.5, 1),
)
DECISION_BATCH = Histogram(
    "gateway_decision_batch_size",
    "Decisions written per round trip",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
DECISION_WRITE_SECONDS = Histogram(
    "gateway_decision_write_seconds",
    "Time to store one batch of decisions (insert and commit)",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.5, 1),
)
DECISION_WRITE_FAILURES = Counter(
    "gateway_decision_write_failures_total", "Decision batches that could not be stored"
)
CACHE_REBUILDS = Counter("gateway_dnc_cache_rebuilds_total", "DNC cache rebuilds", ["outcome"])
SNAPSHOT_RELOADS = Counter("gateway_snapshot_reloads_total", "Registry snapshot reloads", ["part"])
SNAPSHOT_VERSION = Gauge("gateway_snapshot_version", "Registry version held in memory")
CALENDAR_COVERED_UNTIL = Gauge(
    "gateway_calendar_covered_until_seconds",
    "End of the last day the calendar gives a day type for, as Unix time; 0 once it ran out",
)
JOB_RUNS = Counter("gateway_job_runs_total", "Scheduled job runs", ["job", "outcome"])


# Metric children by label values: `.labels()` takes a lock and builds a key on every
# call, which shows on the pre-call check's path. Bounded, for labels from requests.
_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}
_MAX_CHILDREN = 2000


def labelled(metric: Any, *values: str) -> Any:
    """`metric.labels(*values)`, cached."""
    key = (id(metric), values)
    child = _CHILDREN.get(key)
    if child is None:
        child = metric.labels(*values)
        if len(_CHILDREN) < _MAX_CHILDREN:
            _CHILDREN[key] = child
    return child
