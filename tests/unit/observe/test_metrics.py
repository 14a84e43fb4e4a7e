"""The metrics registry and its Prometheus text rendering."""

from __future__ import annotations

import pytest

from interlink.observe.metrics import OVERFLOW, Registry


def test_counter_renders_with_help_type_and_sorted_series() -> None:
    registry = Registry()
    delivered = registry.counter("interlink_delivered_total", "Events delivered.", ["subscription"])
    delivered.inc("b")
    delivered.inc("a", amount=2)
    assert registry.render() == (
        "# HELP interlink_delivered_total Events delivered.\n"
        "# TYPE interlink_delivered_total counter\n"
        'interlink_delivered_total{subscription="a"} 2\n'
        'interlink_delivered_total{subscription="b"} 1\n'
    )


def test_label_values_are_escaped() -> None:
    registry = Registry()
    registry.counter("c", "h", ["v"]).inc('a"b\\c\nd')
    assert 'c{v="a\\"b\\\\c\\nd"} 1' in registry.render()


def test_cardinality_is_bounded() -> None:
    registry = Registry(max_series=3)
    counter = registry.counter("c", "h", ["consumer"])
    for i in range(10):
        counter.inc(f"k{i}")
    assert counter.value("k0") == 1
    assert counter.value("k2") == 1
    assert counter.value(OVERFLOW) == 7
    assert registry.render().count("\nc{") == 4


def test_histogram_buckets_are_cumulative() -> None:
    registry = Registry()
    latency = registry.histogram("lat_seconds", "Latency.", ["route"], buckets=[0.1, 1.0])
    for value in (0.05, 0.5, 0.7, 3.0):
        latency.observe(value, "r")
    text = registry.render()
    assert 'lat_seconds_bucket{route="r",le="0.1"} 1' in text
    assert 'lat_seconds_bucket{route="r",le="1"} 3' in text
    assert 'lat_seconds_bucket{route="r",le="+Inf"} 4' in text
    assert 'lat_seconds_sum{route="r"} 4.25' in text
    assert 'lat_seconds_count{route="r"} 4' in text
    assert latency.quantile(0.5, "r") == 1.0
    assert latency.quantile(0.99, "r") == float("inf")


def test_gauge_function_is_read_at_render_time() -> None:
    registry = Registry()
    lag = {"s": 3.0}
    gauge = registry.gauge("lag", "Lag.", ["subscription"])
    gauge.set_function(lambda: [((name,), value) for name, value in lag.items()])
    assert 'lag{subscription="s"} 3' in registry.render()
    lag["s"] = 5.0
    assert 'lag{subscription="s"} 5' in registry.render()


def test_same_name_returns_same_metric_and_conflicts_are_refused() -> None:
    registry = Registry()
    assert registry.counter("c", "h", ["a"]) is registry.counter("c", "h", ["a"])
    with pytest.raises(ValueError, match="already registered"):
        registry.gauge("c", "h", ["a"])
    with pytest.raises(ValueError, match="invalid metric name"):
        registry.counter("1bad", "h")
    with pytest.raises(ValueError, match="invalid label name"):
        registry.counter("ok", "h", ["le"])
    with pytest.raises(ValueError, match="takes labels"):
        registry.counter("c", "h", ["a"]).inc()
    with pytest.raises(ValueError, match="only goes up"):
        registry.counter("c", "h", ["a"]).inc("x", amount=-1)
