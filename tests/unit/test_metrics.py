"""The event-loop metrics expose exactly what prometheus-client's own would."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gateway.core.metrics import LoopCounter, LoopHistogram

BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.1, 1)


def exposition(registry: CollectorRegistry) -> list[str]:
    """The text /metrics would give, without the `_created` series ours leave out."""
    lines = generate_latest(registry).decode().splitlines()
    return [line for line in lines if "_created" not in line]


values = st.floats(min_value=0, max_value=5, allow_nan=False) | st.sampled_from(BUCKETS)
labels = st.sampled_from(["/v1/precheck", "/v1/calls", "unmatched"])


@given(st.lists(st.tuples(labels, values), max_size=60))
def test_a_histogram_gives_the_samples_prometheus_client_would(
    observed: list[tuple[str, float]],
) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    native = Histogram("h_seconds", "latency", ["route"], buckets=BUCKETS, registry=theirs)
    loop = LoopHistogram("h_seconds", "latency", ["route"], buckets=BUCKETS, registry=ours)
    for route, value in observed:
        native.labels(route).observe(value)
        loop.labels(route).observe(value)
    assert exposition(ours) == exposition(theirs)


@given(st.lists(st.tuples(labels, st.integers(min_value=0, max_value=3)), max_size=60))
def test_a_counter_gives_the_samples_prometheus_client_would(
    counted: list[tuple[str, int]],
) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    native = Counter("c_total", "answered", ["route"], registry=theirs)
    loop = LoopCounter("c", "answered", ["route"], registry=ours)
    for route, amount in counted:
        native.labels(route).inc(amount)
        loop.labels(route).inc(amount)
    assert exposition(ours) == exposition(theirs)


def test_unlabelled_metrics_show_from_the_start_as_prometheus_client_does() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    Histogram("b", "batch", buckets=(1, 2, 5), registry=theirs)
    Counter("n_total", "failures", registry=theirs)
    LoopHistogram("b", "batch", buckets=(1, 2, 5), registry=ours)
    LoopCounter("n", "failures", registry=ours)
    assert exposition(ours) == exposition(theirs)


def test_unlabelled_metrics_and_misuse() -> None:
    registry = CollectorRegistry()
    hist = LoopHistogram("b", "batch", buckets=(1, 2, 5), registry=registry)
    hist.observe(2)
    hist.observe(7)
    text = generate_latest(registry).decode()
    assert 'b_bucket{le="2.0"} 1.0' in text
    assert 'b_bucket{le="+Inf"} 2.0' in text
    assert "b_sum 9.0" in text
    counter = LoopCounter("n", "labelled", ["decision"], registry=registry)
    with pytest.raises(ValueError, match="needs its labels"):
        counter.inc()
    with pytest.raises(ValueError, match="takes labels"):
        counter.labels("allow", "extra")
    with pytest.raises(ValueError, match="only goes up"):
        counter.labels("allow").inc(-1)
    with pytest.raises(ValueError, match="increasing"):
        LoopHistogram("x", "unordered", buckets=(2, 1), registry=None)
