"""Screenshots of the console for the docs: every page of its navigation, on the demo estate.

    make screenshots        (or: .venv/bin/python bench/console_screenshots.py [--out DIR])

Runs `interlink demo` in a temporary directory on free ports, lets its companions work and adds
a little traffic of its own (customer lookups through the gateway, an address change), signs in
with the one-time link the demo prints, in Debian's Chromium driven by Playwright (never a
downloaded browser), and saves one PNG per page of the console's NAV at 1280 px wide, the sign-in
page, and the first page again at phone width. The navigation is read from the console itself
(render.NAV), so a page added to it is photographed on the next run, and
tests/unit/test_console_screenshots.py fails until it is. Pages taller than MAX_HEIGHT are cut
there. The PNGs are recompressed with optipng when it is installed, else with zlib at its
highest level.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, Final

import httpx
from playwright.sync_api import ViewportSize, sync_playwright

from interlink.admin.console.render import NAV
from interlink.testing.processes import InterlinkProcess, free_port

CHROMIUM: Final = Path("/usr/bin/chromium")
OUT: Final = Path(__file__).resolve().parent.parent / "docs" / "console"
WIDTH: Final = 1280
PHONE: Final[ViewportSize] = {"width": 390, "height": 844}
MAX_HEIGHT: Final = 1000
#: What a page shows rather than its empty form: the query taken with its screenshot.
EXAMPLES: Final = {"/lineage": "?type=customer&key=C000001"}
#: How long the demo's companions run before the pages are taken: orders, runs, deliveries.
SETTLE_SECONDS: Final = 25.0


def file_name(path: str, suffix: str = "") -> str:
    """The screenshot of the console page at ``path`` (under /console): ``/runs`` → runs.png."""
    return path.strip("/").replace("/", "-") + suffix + ".png"


def recompress(png: Path) -> None:
    """``png`` made smaller, its pixels unchanged: optipng, or every IDAT deflated again."""
    if optipng := shutil.which("optipng"):
        subprocess.run([optipng, "-quiet", "-o2", "-strip", "all", str(png)], check=True)
        return
    data = png.read_bytes()
    chunks, at, idat = [], 8, b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        at += 12 + length
        if kind == b"IDAT":
            idat += body
            continue
        if kind == b"IEND":
            packed = zlib.compress(zlib.decompress(idat), 9)
            chunks.append(_chunk(b"IDAT", packed))
        chunks.append(_chunk(kind, body))
    smaller = data[:8] + b"".join(chunks)
    if len(smaller) < len(data):
        png.write_bytes(smaller)


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def traffic(demo: InterlinkProcess) -> None:
    """A few requests of our own beside the companions': the pages then show them."""
    gateway = demo.wait_for(r"gateway +(http://\S+)").group(1)
    partner = demo.wait_for(r"partner key +(ik_\S+)").group(1)
    crm = demo.wait_for(r"CRM API key +(ik_\S+)").group(1)
    with httpx.Client(base_url=gateway, timeout=10) as client:
        for customer in ("C000001", "C000002", "C000003", "nope"):
            client.get(f"/api/customers/{customer}", headers={"x-api-key": partner})
        change = {
            "customerId": "C000001",
            "address": {"street": "1 Quay St", "city": "Galway", "country": "IE"},
            "changedAt": "2026-11-22T10:00:00Z",
        }
        client.post(
            "/events/customer.address-updated",
            json=change,
            headers={
                "x-api-key": crm,
                "ce-specversion": "1.0",
                "ce-id": f"screenshots-{time.time_ns()}",
                "ce-source": "crm",
                "ce-type": "customer.address-updated",
            },
        )


def shoot(page: Any, target: Path) -> None:
    """The page as it is, cut at MAX_HEIGHT, into ``target``."""
    page.wait_for_load_state("networkidle")
    width = page.viewport_size["width"]  # the page's own: a wider table is cut, as on screen
    bottom = page.evaluate("document.querySelector('main').getBoundingClientRect().bottom")
    height = min(MAX_HEIGHT, int(bottom) + 24)
    clip = {"x": 0, "y": 0, "width": width, "height": height}
    page.screenshot(path=str(target), full_page=True, clip=clip)
    recompress(target)
    print(f"  {target.name}  {target.stat().st_size // 1024} KiB")


def photograph(link: str, console: str, out: Path) -> None:
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox"] if os.geteuid() == 0 else [],  # as root it will not start else
        )
        try:
            context = browser.new_context(viewport={"width": WIDTH, "height": 800})
            page = context.new_page()
            page.goto(console + "sign-in")
            shoot(page, out / "sign-in.png")
            page.goto(link)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/console/catalog")
            for path, _label, _action in NAV:
                page.goto(console + path.lstrip("/") + EXAMPLES.get(path, ""))
                shoot(page, out / file_name(path))
            page.set_viewport_size(PHONE)  # the same session, on a phone's screen
            first = NAV[0][0]
            page.goto(console + first.lstrip("/"))
            shoot(page, out / file_name(first, "-phone"))
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs are written")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is not installed (apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="interlink-screenshots-") as tmp:
        where = ["--dir", str(Path(tmp) / "demo"), "--admin-listen", f"127.0.0.1:{free_port()}"]
        demo = InterlinkProcess(
            ["demo", *where, "--companions-port", "0"],
            env={"INTERLINK_GATEWAY_LISTEN": "127.0.0.1:0"},
            cwd=Path(tmp),
        )
        with demo:
            console = demo.wait_for(r"console +(http://\S+/console/)", timeout=120).group(1)
            link = demo.wait_for(r"sign-in link +(http://\S+)").group(1)
            demo.wait_for("Ctrl-C stops.", timeout=120)
            traffic(demo)
            print(f"the demo runs; pages are taken in {SETTLE_SECONDS:g} s")
            time.sleep(SETTLE_SECONDS)
            traffic(demo)
            photograph(link, console, args.out)
    print(f"wrote {len(NAV) + 2} screenshots to {args.out}")


if __name__ == "__main__":
    main()
