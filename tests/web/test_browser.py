"""The archive page in a real browser: headless Chromium (Debian's, driven by Playwright)
opens the stories page, searches, opens a story and sees the searched words marked.

Screenshots go to $MONITOR_SCREENSHOTS (or the test's temporary folder), to be looked at.
Skipped, saying why, where Debian's chromium is not installed: Playwright cannot download a
browser of its own here (.ci/run installs chromium when it runs as root)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.web.server import RulesInForce, WebServer, build, reader

from ..helpers import FakeClock
from .conftest import Newsroom, make_newsroom

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install chromium); Playwright "
    "may not download a browser of its own here",
)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("MONITOR_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    clock = FakeClock()
    settings, store, ids = make_newsroom(tmp_path, f"sqlite:///{tmp_path / 'm.db'}", clock)
    room = Newsroom(settings, store, clock, ids, None)  # type: ignore[arg-type]
    rules = RulesInForce(room.settings)
    pages = build(room.settings, reader(room.settings), rules, token=None, clock=clock)
    server = WebServer(pages, "127.0.0.1", 0, None).start()
    yield server.url
    server.stop()
    store.close()


def test_search_open_a_story_and_see_the_marked_words(served: str, shots: Path) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(served)
        assert page.title() == "Stories · monitor"
        assert page.locator("li.story").count() == 5
        page.screenshot(path=str(shots / "1-stories.png"), full_page=True)

        page.fill("input[name=q]", "Omuraliev")
        page.click("button[type=submit]")
        page.wait_for_url("**/?q=Omuraliev*")
        titles = page.locator("li.story a.title").all_inner_texts()
        assert titles == [
            "Omuraliev visits the OTS diaspora in Kazan",
            "Кубанычбек Омуралиев встретился с послами",
        ]
        page.screenshot(path=str(shots / "2-search.png"), full_page=True)

        page.click("text=Кубанычбек Омуралиев встретился с послами")
        page.wait_for_url("**/story/3*")
        marked = page.locator("article mark").all_inner_texts()
        assert "Омуралиев" in marked
        assert page.locator("p.why").first.inner_text().startswith("It matched because")
        # the stylesheet loaded (no CSP refusal): marks are yellow
        color = page.eval_on_selector("article mark", "m => getComputedStyle(m).backgroundColor")
        assert color == "rgb(255, 241, 168)"
        page.screenshot(path=str(shots / "3-story.png"), full_page=True)

        page.goto(served + "topics")
        assert page.locator("svg.chart").count() == 3
        page.screenshot(path=str(shots / "4-topics.png"), full_page=True)
        assert "2025-12-15: 1 hit" in page.inner_html("table.topics")
        assert errors == []  # no refused stylesheet, no missing file
        page.goto(served + "?page=-1")
        assert page.locator("p.problem").inner_text().startswith("page: '-1' is not a page")
        page.screenshot(path=str(shots / "5-bad-page.png"), full_page=True)
        browser.close()
