"""The console's one-time sign-in links in a real Chromium against a real `interlink serve`:
the link the first start prints signs in once, a second use lands on the sign-in page saying
why, and `interlink console link` makes another for a token held.

Skipped when /usr/bin/chromium is absent, as tests/e2e/test_console_browser.py is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from interlink.testing.processes import InterlinkProcess, free_port, run_interlink
from tests.e2e.test_console_browser import heading, page  # noqa: F401 - the fixture


@dataclass
class Served:
    admin: str
    token: str
    link: str


@pytest.fixture
def served(retail_dir: Path) -> Iterator[Served]:
    admin = f"127.0.0.1:{free_port()}"
    with InterlinkProcess(["serve", str(retail_dir), "--admin-listen", admin]) as proc:
        token = proc.wait_for(r"admin token \(shown once, store it now\): (\S+)").group(1)
        link = proc.wait_for(r"console sign-in link \(one use, within 10 minutes\): (\S+)")
        yield Served(f"http://{admin}", token, link.group(1))


def use(page: Any, link: str) -> None:  # noqa: F811 - the fixture's name
    page.goto(link)
    assert "one-time link" in page.locator("main").inner_text()
    page.get_by_role("button", name="Sign in").click()


def test_a_printed_link_signs_in_once_and_the_cli_makes_another(
    served: Served,
    page: Any,  # noqa: F811 - the fixture
    retail_dir: Path,
) -> None:
    use(page, served.link)
    page.wait_for_url("**/console/catalog")
    assert heading(page) == "Systems, Apis and Events"
    assert "initial · admin" in page.locator("header").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/sign-in?reason=signed-out")

    use(page, served.link)  # used already
    page.wait_for_url("**/console/sign-in?reason=link")
    assert (
        "This sign-in link is unknown, used already or expired."
        in page.get_by_role("status").inner_text()
    )

    made = run_interlink(
        ["console", "link", "--estate", str(retail_dir), "--admin", served.admin],
        env={"INTERLINK_TOKEN": served.token},
    )
    assert made.returncode == 0, made.stderr
    assert served.token not in made.stdout + made.stderr
    use(page, made.stdout.strip())
    page.wait_for_url("**/console/catalog")
    assert "initial · admin" in page.locator("header").inner_text()
