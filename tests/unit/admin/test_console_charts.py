"""The console's SVG charts: values placed where they belong, gaps lifted, an empty window
said in words, and every chart named and described for assistive technology."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

from interlink.admin.console.charts import (
    Frame,
    Series,
    bar_chart,
    line_chart,
    lone_points,
    nice_ceiling,
    path_of,
    sparkline,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(
        str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    )


def test_a_frame_maps_values_onto_its_plot_area() -> None:
    frame = Frame(1000, 2000, 0, 10, width=200, height=120, margins=(10, 10, 10, 50))
    assert (frame.x(1000), frame.x(2000), frame.x(1500)) == (50, 190, 120)
    assert (frame.y(0), frame.y(10), frame.y(5)) == (110, 10, 60)
    assert frame.y(25) == 10  # clamped to the top, never drawn outside
    assert frame.y(-3) == 110


def test_a_scale_tops_out_at_a_round_number() -> None:
    assert [nice_ceiling(v) for v in (0, 0.7, 1, 3, 7, 12, 240, 0.031)] == [
        1, 1, 1, 5, 10, 20, 250, 0.05,
    ]  # fmt: skip
    assert nice_ceiling(math.inf) == 1


def test_a_line_is_lifted_at_each_gap() -> None:
    frame = Frame(0, 3, 0, 4, width=40, height=40, margins=(0, 0, 0, 10))
    d = path_of([(0, 0.0), (1, 4.0), (2, None), (3, 2.0)], frame)
    assert d == "M10.0,40.0 L20.0,0.0 M40.0,20.0"
    assert path_of([(0, None)], frame) == ""
    assert lone_points([(0, 1.0), (1, None), (2, 3.0), (3, 4.0), (4, None), (5, 6.0)]) == [
        (0, 1.0),
        (5, 6.0),
    ]


def test_a_line_chart_is_named_described_and_scaled() -> None:
    svg = line_chart(
        "lat", "Latency of a", "p50 per minute <in ms>",
        [Series("p50", [(0, 10.0), (60, 30.0), (120, None)]), Series("p95", [(0, 40.0)], "s2")],
        (0, 120), lambda v: f"{v:g} ms", marks=[(35.0, "limit")],
    )  # fmt: skip
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "lat-title lat-desc"
    assert root.find(SVG + "title").text == "Latency of a"  # type: ignore[union-attr]
    assert root.find(SVG + "desc").text == "p50 per minute <in ms>"  # type: ignore[union-attr]
    ticks = [t.text for t in root.iter(SVG + "text") if t.get("class") == "tick"]
    assert ticks[:3] == ["0 ms", "25 ms", "50 ms"]  # 0 to the round number above 40
    paths = [p.get("d") for p in root.iter(SVG + "path")]
    # The plot spans x 56 to 628 (120 s) and y 172 (0 ms) up to 12 (50 ms): 10 ms is a fifth
    # of the way up, 60 s half the way across.
    assert paths[0] == "M56.0,140.0 L342.0,76.0"
    assert paths[1] == "M56.0,44.0"
    # The lone p95 point is drawn as a dot too, where its path (of one move) draws nothing.
    dots = [(c.get("class"), c.get("cx"), c.get("cy")) for c in root.iter(SVG + "circle")]
    assert dots == [("dot s2", "56.0", "44.0")]
    assert "No data in this window" not in svg


def test_an_empty_series_says_so_and_draws_no_line() -> None:
    svg = line_chart("e", "Nothing", "no traffic", [Series("x", [(0, None), (60, None)])], (0, 60))
    root = parse(svg)
    assert list(root.iter(SVG + "path")) == []
    assert "No data in this window" in svg
    bars = parse(bar_chart("b", "None", "none", [Series("r", [(0, 0), (60, 0)])], (0, 120), 60))
    assert list(bars.iter(SVG + "rect")) == []
    assert "No data in this window" in str(bar_chart("b", "t", "d", [], (0, 60), 60))


def test_bars_stand_on_the_base_for_their_step() -> None:
    svg = bar_chart(
        "v", "Requests", "per minute",
        [Series("requests", [(0, 4.0), (60, 2.0)]), Series("errors", [(60, 1.0)], "bad")],
        (0, 120), 60,
    )  # fmt: skip
    drawn = [r for r in parse(svg).iter(SVG + "rect") if "series" in (r.get("class") or "")]
    rects = [tuple(r.get(a) for a in ("class", "x", "y", "width", "height")) for r in drawn]
    # Plot: x 56 to 628 over 120 s (4.7667 px a second); y 12 to 172 for 0 to 5 requests.
    assert rects == [
        ("series s1", "56.0", "44.0", "285.0", "128.0"),
        ("series s1", "342.0", "108.0", "285.0", "64.0"),
        ("series bad", "342.0", "140.0", "285.0", "32.0"),
    ]


def test_a_sparkline_has_its_label_and_a_flat_base_when_nothing_happened() -> None:
    quiet = parse(sparkline("requests of a: 0", [0.0, 0.0, None]))
    assert quiet.get("aria-label") == "requests of a: 0"
    assert list(quiet.iter(SVG + "path")) == []
    busy = parse(sparkline("requests of b: 3", [0.0, 3.0]))
    assert [p.get("d") for p in busy.iter(SVG + "path")] == ["M2.0,22.0 L118.0,2.0"]


def test_text_is_escaped() -> None:
    svg = str(line_chart("x", "<script>", "a & b", [], (0, 60)))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert re.search(r"a &amp; b", svg)
