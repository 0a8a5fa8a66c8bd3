"""Prometheus metrics, one registry per process.

The metrics every pre-call check updates are `LoopCounter`s and `LoopHistogram`s: plain
numbers, updated from the event loop's thread only, and turned into Prometheus samples
when /metrics is read. prometheus-client's own take a lock and walk the buckets on every
update, which was 7% of the instructions a check costs. The others are prometheus-client's.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString


class _Loop(Collector):
    """What the two kinds share: a name, help text, label names, and one child per label
    values, registered as a collector so that /metrics reads them (in the loop's thread
    too: GET /metrics calls generate_latest in its handler)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], Any] = {}
        # Without labels, the one child: shown from the start, at zero, as
        # prometheus-client's are.
        self._only: Any = None if self.labelnames else self.labels()
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> Any:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, not {values}")
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._child()
        return child

    def _child(self) -> Any:
        raise NotImplementedError

    def describe(self) -> list[Metric]:
        return [self._family()]

    def collect(self) -> list[Metric]:
        family = self._family()
        for values, child in list(self._children.items()):
            self._add(family, values, child)
        return [family]

    def _family(self) -> Metric:
        raise NotImplementedError

    def _add(self, family: Any, values: tuple[str, ...], child: Any) -> None:
        raise NotImplementedError

    def _unlabelled(self) -> Any:
        if self._only is None:
            raise ValueError(f"{self.name} needs its labels {self.labelnames}")
        return self._only


class _CounterChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        self.value += amount


class LoopCounter(_Loop):
    """A counter for the event loop's thread. `name` without the `_total` suffix."""

    def _child(self) -> _CounterChild:
        return _CounterChild()

    def inc(self, amount: float = 1) -> None:
        self._unlabelled().inc(amount)

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def _add(self, family: Any, values: tuple[str, ...], child: _CounterChild) -> None:
        family.add_metric(values, child.value)


class _HistogramChild:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # The first bucket whose upper bound is >= value: Prometheus's `le`.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class LoopHistogram(_Loop):
    """A histogram for the event loop's thread."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = (),
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        bounds = tuple(float(b) for b in buckets)
        if not bounds or list(bounds) != sorted(set(bounds)):
            raise ValueError(f"{name}: buckets must be given in increasing order")
        self.bounds = bounds
        go_float: Any = floatToGoString  # untyped; the `le` label as prometheus-client writes it
        self._les = [go_float(b) for b in bounds] + ["+Inf"]
        super().__init__(name, documentation, labelnames, registry)

    def _child(self) -> _HistogramChild:
        return _HistogramChild(self.bounds)

    def observe(self, value: float) -> None:
        self._unlabelled().observe(value)

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def _add(self, family: Any, values: tuple[str, ...], child: _HistogramChild) -> None:
        total = child.sum
        cumulative = map(float, accumulate(child.counts))
        family.add_metric(values, list(zip(self._les, cumulative, strict=True)), total)


HTTP_REQUESTS = LoopCounter(
    "gateway_http_requests", "HTTP requests answered", ["route", "method", "status"]
)
HTTP_LATENCY = LoopHistogram(
    "gateway_http_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CHECKS = LoopCounter("gateway_checks", "Pre-call checks by decision", ["decision"])
CHECK_REASONS = LoopCounter("gateway_check_reasons", "Deny reasons given", ["reason"])
CHECK_LATENCY = LoopHistogram(
    "gateway_check_seconds",
    "Pre-call check latency, request to durable answer",
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.5, 1),
)
DECISION_BATCH = LoopHistogram(
    "gateway_decision_batch_size",
    "Decisions written per round trip",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
DECISION_WRITE_SECONDS = LoopHistogram(
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
