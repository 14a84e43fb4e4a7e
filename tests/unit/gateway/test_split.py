"""Weighted split among a route's primary upstreams, sticky per consumer or client address."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from interlink.gateway.balancing import choose_upstream, pick, stable_hash, sticky_key
from interlink.gateway.config import CompiledRoute
from interlink.gateway.request import Request
from interlink.gateway.upstream import UpstreamTarget
from interlink.http.origin import Origin
from tests.unit.gateway.helpers import compile_dir, route, write_estate

CLIENTS = 20_000


def request(consumer: str | None = None, client: str = "10.0.0.1") -> Request:
    req = Request(b"GET", "/customers", b"", "1.1", [], True, client, {})
    req.consumer = consumer
    return req


def compiled(tmp_path: Path, weights: list[int], **spec: object) -> CompiledRoute:
    systems = {f"s{i}": f"http://127.0.0.1:{9000 + i}" for i in range(len(weights))}
    body = route("split", "/customers", **spec)
    body["spec"]["upstreams"] = [
        {"system": name, "weight": w} for name, w in zip(systems, weights, strict=True)
    ]
    body["spec"]["upstreams"].append({"system": "shadow", "shadow": True})
    systems["shadow"] = "http://127.0.0.1:9100"
    config = compile_dir(write_estate(tmp_path / "estate", dict(systems), [body]))
    return config.routes[0]


def target(system: str, weight: int) -> UpstreamTarget:
    origin, _ = Origin.parse("http://127.0.0.1:1")
    return UpstreamTarget(system, origin, "", weight, False)


def test_a_single_primary_answers_everything(tmp_path: Path) -> None:
    split = compiled(tmp_path, [100])
    assert {choose_upstream(split, request(f"c{i}")).system for i in range(100)} == {"s0"}


@pytest.mark.parametrize("weights", [[90, 10], [50, 50], [1, 2, 7], [0, 100], [999, 1]])
def test_consumers_spread_by_weight_within_exact_bounds(tmp_path: Path, weights: list[int]) -> None:
    split = compiled(tmp_path, weights)
    got = Counter(choose_upstream(split, request(f"consumer-{i}")).system for i in range(CLIENTS))
    total = sum(weights)
    for i, weight in enumerate(weights):
        share = got[f"s{i}"] / CLIENTS
        expected = weight / total
        # Binomial: 4.5 standard deviations, plus one client for the rounding.
        bound = 4.5 * (expected * (1 - expected) / CLIENTS) ** 0.5 + 1 / CLIENTS
        assert abs(share - expected) <= bound, (weights, dict(got))
    assert "shadow" not in got  # a shadow upstream never answers


def test_one_consumer_always_reaches_the_same_upstream(tmp_path: Path) -> None:
    split = compiled(tmp_path, [90, 10])
    for i in range(500):
        first = choose_upstream(split, request(f"c{i}")).system
        assert all(
            choose_upstream(split, request(f"c{i}", client=f"10.1.{n}.1")).system == first
            for n in range(5)
        )  # whatever address the consumer calls from


def test_anonymous_clients_stick_by_address(tmp_path: Path) -> None:
    split = compiled(tmp_path, [50, 50])
    chosen = {
        address: choose_upstream(split, request(client=address)).system
        for address in (f"192.0.2.{n}" for n in range(200))
    }
    assert set(chosen.values()) == {"s0", "s1"}
    for address, system in chosen.items():
        assert choose_upstream(split, request(client=address)).system == system
    assert sticky_key(request(client="192.0.2.1")) == "ip:192.0.2.1"
    assert sticky_key(request("shop")) == "consumer:shop"


def test_the_hash_is_stable_across_runs() -> None:
    # Pinned: a change here would move clients to another upstream on upgrade.
    assert stable_hash("consumer:shop") == 13059405522306996165


def test_moving_weight_to_the_next_upstream_only_moves_clients_forward() -> None:
    keys = [stable_hash(f"consumer:c{i}") for i in range(CLIENTS)]
    before = [pick((target("old", 90), target("new", 10)), k).system for k in keys]
    after = [pick((target("old", 80), target("new", 20)), k).system for k in keys]
    assert all(a == "new" for b, a in zip(before, after, strict=True) if b == "new")
    moved = sum(1 for b, a in zip(before, after, strict=True) if b != a)
    assert abs(moved / CLIENTS - 0.10) < 0.01
    # Same shares, other totals: nobody moves.
    scaled = [pick((target("old", 900), target("new", 100)), k).system for k in keys]
    assert scaled == before


def test_pick_covers_the_whole_hash_range() -> None:
    targets = (target("a", 1), target("b", 0), target("c", 1))
    assert pick(targets, 0).system == "a"
    assert pick(targets, 2**63 - 1).system == "a"
    assert pick(targets, 2**63).system == "c"
    assert pick(targets, 2**64 - 1).system == "c"


def test_without_sticky_each_request_is_drawn(tmp_path: Path) -> None:
    split = compiled(tmp_path, [75, 25], sticky=False)
    draws = iter([0.0, 0.74, 0.75, 0.999999])
    got = [choose_upstream(split, request("same"), rand=lambda: next(draws)).system for _ in "abcd"]
    assert got == ["s0", "s0", "s1", "s1"]
