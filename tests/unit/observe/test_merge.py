"""Several processes' metrics as one: counters and histograms added up, gauges per worker,
restarts that never make a counter go back, bounded cardinality, and the wire format."""

from __future__ import annotations

import pytest

from interlink.observe.merge import ProcessMerge, ProcessSnapshot, decode, encode
from interlink.observe.metrics import (
    OVERFLOW,
    Family,
    HistogramValue,
    Registry,
    combine,
    render_families,
)

REQUESTS = "interlink_gateway_requests_total"
DURATION = "interlink_gateway_request_duration_seconds"
BREAKER = "interlink_gateway_circuit_state"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Worker:
    """A worker's registry with the gateway's kinds of metric, and its snapshots."""

    def __init__(self, pid: int, max_series: int = 1000) -> None:
        self.pid = pid
        self.seq = 0
        self.registry = Registry(max_series=max_series)
        self.requests = self.registry.counter(REQUESTS, "Requests.", ("route", "status_class"))
        self.duration = self.registry.histogram(
            DURATION, "Duration.", ("route",), buckets=(0.1, 1.0)
        )
        self.breaker = self.registry.gauge(BREAKER, "Breaker state.", ("route", "system"))

    def snapshot(self) -> ProcessSnapshot:
        self.seq += 1
        return ProcessSnapshot(self.pid, self.seq, tuple(self.registry.families()))


def by_name(families: list[Family]) -> dict[str, Family]:
    return {family.name: family for family in families}


def test_families_render_exactly_as_the_registry_does() -> None:
    registry = Registry()
    registry.counter("c_total", "A\ncounter.", ("a",)).inc('x"y', amount=2.5)
    registry.gauge("g", "A gauge.").set(-3)
    function = registry.gauge("f", "Computed.", ("s",))
    function.set_function(lambda: [(("s1",), 7.0)])
    histogram = registry.histogram("h_seconds", "A histogram.", ("r",), buckets=(0.5, 2.0))
    for value in (0.1, 0.5, 1.0, 9.0):
        histogram.observe(value, "r1")
    assert render_families(registry.families()) == registry.render()
    assert 'f{s="s1"} 7' in registry.render()


def test_counters_and_histograms_add_up_into_one_series_per_label_values() -> None:
    one, two = Worker(101), Worker(102)
    for _ in range(3):
        one.requests.inc("customers", "2xx")
    two.requests.inc("customers", "2xx", amount=4)
    two.requests.inc("orders", "5xx")
    one.duration.observe(0.05, "customers")
    two.duration.observe(0.5, "customers")
    two.duration.observe(5.0, "customers")
    merge = ProcessMerge(2)
    assert merge.update(0, one.snapshot())
    assert merge.update(1, two.snapshot())
    merged = by_name(merge.families())

    assert merged[REQUESTS].label_names == ("route", "status_class")  # no worker label
    assert merged[REQUESTS].series == {("customers", "2xx"): 7.0, ("orders", "5xx"): 1.0}
    assert merged[DURATION].series == {("customers",): HistogramValue((1, 1, 1), 5.55, 3)}
    text = render_families(merged.values())
    assert 'interlink_gateway_request_duration_seconds_bucket{route="customers",le="0.1"} 1' in text
    assert 'interlink_gateway_request_duration_seconds_bucket{route="customers",le="1"} 2' in text
    assert (
        'interlink_gateway_request_duration_seconds_bucket{route="customers",le="+Inf"} 3' in text
    )
    assert 'interlink_gateway_request_duration_seconds_count{route="customers"} 3' in text


def test_gauges_are_kept_per_worker() -> None:
    one, two = Worker(101), Worker(102)
    one.breaker.set(0, "customers", "crm")
    two.breaker.set(2, "customers", "crm")
    merge = ProcessMerge(2)
    merge.update(0, one.snapshot())
    merge.update(1, two.snapshot())
    breaker = by_name(merge.families())[BREAKER]
    assert breaker.label_names == ("route", "system", "worker")
    assert breaker.series == {("customers", "crm", "1"): 0.0, ("customers", "crm", "2"): 2.0}
    text = render_families([breaker])
    assert 'interlink_gateway_circuit_state{route="customers",system="crm",worker="2"} 2' in text


def test_a_restarted_worker_never_makes_a_counter_go_back() -> None:
    merge = ProcessMerge(2)
    steady, first = Worker(101), Worker(102)
    steady.requests.inc("customers", "2xx", amount=10)
    first.requests.inc("customers", "2xx", amount=5)
    first.duration.observe(0.5, "customers")
    first.breaker.set(2, "customers", "crm")
    merge.update(0, steady.snapshot())
    merge.update(1, first.snapshot())
    assert by_name(merge.families())[REQUESTS].series[("customers", "2xx")] == 15

    # worker 2 dies; its replacement starts from zero
    second = Worker(103)
    second.requests.inc("customers", "2xx")
    merge.update(1, second.snapshot())
    merged = by_name(merge.families())
    assert merged[REQUESTS].series[("customers", "2xx")] == 16  # 10 + 5 kept + 1
    assert merged[DURATION].series[("customers",)] == HistogramValue((0, 1, 0), 0.5, 1)
    assert BREAKER not in merged or ("customers", "crm", "2") not in merged[BREAKER].series

    # and again: every predecessor's last totals stay
    third = Worker(104)
    third.requests.inc("customers", "2xx", amount=2)
    merge.update(1, third.snapshot())
    assert by_name(merge.families())[REQUESTS].series[("customers", "2xx")] == 18


def test_an_older_snapshot_of_the_same_process_is_ignored() -> None:
    worker = Worker(101)
    worker.requests.inc("customers", "2xx")
    early = worker.snapshot()
    worker.requests.inc("customers", "2xx")
    late = worker.snapshot()
    merge = ProcessMerge(1)
    assert merge.update(0, late)
    assert not merge.update(0, early)  # answered before, read after
    assert by_name(merge.families())[REQUESTS].series[("customers", "2xx")] == 2


def test_a_missing_worker_is_served_from_its_last_snapshot() -> None:
    one, two = Worker(101), Worker(102)
    one.requests.inc("customers", "2xx", amount=3)
    two.requests.inc("customers", "2xx", amount=4)
    merge = ProcessMerge(2)
    merge.update(0, one.snapshot())
    merge.update(1, two.snapshot())
    one.requests.inc("customers", "2xx")
    merge.update(0, one.snapshot())  # worker 2 did not answer this time
    assert by_name(merge.families())[REQUESTS].series[("customers", "2xx")] == 8


def test_cardinality_stays_bounded_across_workers_and_restarts() -> None:
    merge = ProcessMerge(2, max_series=3)
    one, two = Worker(101), Worker(102)
    for route in ("a", "b"):
        one.requests.inc(route, "2xx")
    for route in ("c", "d", "e"):
        two.requests.inc(route, "2xx")
    merge.update(0, one.snapshot())
    merge.update(1, two.snapshot())
    series = by_name(merge.families())[REQUESTS].series
    assert series == {("a", "2xx"): 1, ("b", "2xx"): 1, ("c", "2xx"): 1, (OVERFLOW, OVERFLOW): 2}

    # a restarted worker 2 brings new label values: they go to the overflow, admitted ones stay
    replacement = Worker(103)
    replacement.requests.inc("c", "2xx", amount=5)
    replacement.requests.inc("f", "2xx", amount=7)
    merge.update(1, replacement.snapshot())
    series = by_name(merge.families())[REQUESTS].series
    assert series == {("a", "2xx"): 1, ("b", "2xx"): 1, ("c", "2xx"): 6, (OVERFLOW, OVERFLOW): 9}
    assert len(series) <= 3 + 1


def test_a_workers_own_overflow_series_adds_up_with_the_merges() -> None:
    merge = ProcessMerge(2, max_series=2)
    one, two = Worker(101, max_series=1), Worker(102, max_series=1)
    one.requests.inc("a", "2xx")
    one.requests.inc("b", "2xx")  # over the worker's own bound
    two.requests.inc("c", "2xx")
    two.requests.inc("d", "2xx")
    merge.update(0, one.snapshot())
    merge.update(1, two.snapshot())
    series = by_name(merge.families())[REQUESTS].series
    assert series == {("a", "2xx"): 1, (OVERFLOW, OVERFLOW): 3}


def test_the_snapshot_survives_the_wire() -> None:
    worker = Worker(4242)
    worker.requests.inc('cust"omers\n', "2xx", amount=3)
    worker.duration.observe(0.3, "customers")
    worker.breaker.set(1, "customers", "crm")
    snapshot = worker.snapshot()
    assert decode(encode(snapshot)) == snapshot


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b'{"pid": "1", "seq": 1, "families": []}',
        b'{"pid": 1, "seq": 1, "families": [{"name": "bad name", "help": "", "kind": "counter",'
        b' "labels": [], "buckets": [], "series": []}]}',
        b'{"pid": 1, "seq": 1, "families": [{"name": "c", "help": "", "kind": "summary",'
        b' "labels": [], "buckets": [], "series": []}]}',
        b'{"pid": 1, "seq": 1, "families": [{"name": "c", "help": "", "kind": "counter",'
        b' "labels": ["a"], "buckets": [], "series": [[[], 1]]}]}',
        b'{"pid": 1, "seq": 1, "families": [{"name": "h", "help": "", "kind": "histogram",'
        b' "labels": [], "buckets": [1.0], "series": [[[], [1], 1.0, 1]]}]}',
    ],
)
def test_a_malformed_snapshot_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        decode(data)


def test_combine_adds_counters_and_lets_gauges_replace() -> None:
    own = Family("c_total", "Own.", "counter", ("a",), {("x",): 1.0})
    theirs = Family("c_total", "Theirs.", "counter", ("a",), {("x",): 2.0, ("y",): 3.0})
    assert combine(own, theirs).series == {("x",): 3.0, ("y",): 3.0}
    assert own.series == {("x",): 1.0}  # not changed in place
    gauge = Family("g", "Own.", "gauge", ("a",), {("x",): 1.0})
    labelled = Family("g", "Workers'.", "gauge", ("a", "worker"), {("x", "1"): 2.0})
    assert combine(gauge, labelled) is labelled
    other_labels = Family("c_total", "Theirs.", "counter", ("b",), {("z",): 1.0})
    assert combine(own, other_labels) is other_labels


@pytest.mark.anyio
async def test_exposition_merges_the_collectors_families_by_name() -> None:
    registry = Registry()
    registry.counter(REQUESTS, "Requests.", ("route", "status_class")).inc("customers", "2xx")
    registry.gauge(BREAKER, "Breaker state.", ("route", "system")).set(0, "customers", "crm")
    worker = Worker(101)
    worker.requests.inc("customers", "2xx", amount=4)
    worker.breaker.set(2, "customers", "crm")
    merge = ProcessMerge(1)
    merge.update(0, worker.snapshot())

    async def workers() -> list[Family]:
        return merge.families()

    async def broken() -> list[Family]:
        raise RuntimeError("down")

    registry.add_collector(workers)
    registry.add_collector(broken)
    text = await registry.exposition()
    assert 'interlink_gateway_requests_total{route="customers",status_class="2xx"} 5' in text
    assert 'interlink_gateway_circuit_state{route="customers",system="crm",worker="1"} 2' in text
    assert 'interlink_gateway_circuit_state{route="customers",system="crm"}' not in text
    assert text.count("# TYPE interlink_gateway_requests_total counter") == 1
    registry.remove_collector(workers)
    assert await registry.exposition() == registry.render()
