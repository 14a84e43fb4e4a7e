"""Every page of the console's navigation has its screenshot in docs/console/, linked from
docs/console.md: a page added to NAV fails here until `make screenshots` is run again."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from interlink.admin.console.render import NAV

DOCS = Path(__file__).resolve().parents[2] / "docs"
SHOTS = DOCS / "console"
AGAIN = "run `make screenshots` (bench/console_screenshots.py) and commit docs/console/"


def size_of(png: Path) -> tuple[int, int]:
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    assert head[12:16] == b"IHDR", f"{png} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.mark.parametrize("path", [p for p, _label, _action in NAV])
def test_every_page_of_the_navigation_has_a_screenshot(path: str) -> None:
    shot = SHOTS / (path.strip("/").replace("/", "-") + ".png")
    assert shot.exists(), f"no screenshot of {path}: {AGAIN}"
    width, height = size_of(shot)
    assert width == 1280
    assert 200 <= height <= 1000
    assert f"(console/{shot.name})" in (DOCS / "console.md").read_text()


def test_the_sign_in_page_and_a_phone_screen_are_shown_too() -> None:
    assert size_of(SHOTS / "sign-in.png")[0] == 1280
    assert size_of(SHOTS / (NAV[0][0].strip("/") + "-phone.png"))[0] == 390
    names = {p.strip("/").replace("/", "-") for p, _label, _action in NAV}
    stale = [
        png.name
        for png in SHOTS.glob("*.png")
        if png.stem.removesuffix("-phone") not in names | {"sign-in"}
    ]
    assert stale == [], f"screenshots of pages no longer in the console: {AGAIN}"
