"""The HTML digest in a real browser: headless Chromium loads the file the file channel
writes, and the page it builds is checked (each story once, links http(s), the overview).

Needs Debian's chromium (`make test` installs it when run as root); skipped without it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from monitor.model import Batch, Message, RenderJob
from monitor.notify import FileNotifier
from monitor.render import Renderer
from monitor.rules import load_rules

from . import newsdesk as nd
from .helpers import ROOT
from .test_digest_layout import NOW, entities, stored

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (make test installs Debian's when root)"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]


class Page(HTMLParser):
    """What the browser's DOM holds: story cells and their headlines, links, text."""

    def __init__(self) -> None:
        super().__init__()
        self.stories: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self._in_headline = 0
        self._depth = 0
        self._story_open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if (values.get("id") or "").startswith("story-"):
            self.stories.append("")
            self._story_open = True
        if "headline" in (values.get("class") or "").split() and self._story_open:
            self._in_headline = 1
        elif self._in_headline:
            self._in_headline += 1
        if tag == "a" and "href" in values:
            self.hrefs.append(values["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if self._in_headline:
            self._in_headline -= 1
            if not self._in_headline:
                self._story_open = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_headline and self.stories:
            self.stories[-1] += data


def digest_file(tmp_path: Path) -> tuple[Path, Message]:
    ruleset = load_rules([ROOT / "rules"])
    items = [nd.entry(i) for i in [*nd.FIRST_POLL, nd.RECEPTION_LATER]]
    items = [
        replace(e, url="javascript:alert(document.cookie)") if e.id == nd.UZBEK_TRADE["guid"] else e
        for e in items
    ]
    story_of = {str(i["guid"]): n for n, s in enumerate(nd.STORIES.values()) for i in s}
    story_of[str(nd.RECEPTION_LATER["guid"])] = story_of[str(nd.RECEPTION_WIRE["guid"])]
    hits = []
    for entry in items:
        hits.extend(stored(ruleset, [entry], story=story_of[entry.id]))
    hits = [replace(h, id=n) for n, h in enumerate(hits, start=1)]
    message = Renderer(ROOT / "templates").render(
        RenderJob(
            kind="digest",
            batch=Batch("daily:file", "<3f2a9c1b@monitor>", tuple(hits)),
            title="Turkic world daily",
            rules=ruleset.by_id(),
            now=NOW,
            timezone="Europe/Istanbul",
            entities=entities(ruleset),
        )
    )
    FileNotifier(tmp_path).send(message)
    (path,) = tmp_path.glob("*.html")
    return path, message


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=120, check=True
    )


def test_the_digest_page_shows_each_story_once_with_safe_links(tmp_path: Path) -> None:
    path, message = digest_file(tmp_path)
    dom = chromium("--dump-dom", path.as_uri()).stdout
    page = Page()
    page.feed(dom)
    headlines = [" ".join(h.split()) for h in page.stories]
    assert sorted(headlines) == sorted(str(s[0]["title"]) for s in nd.STORIES.values())
    assert len(set(headlines)) == len(headlines) == len(message.stories)
    assert page.hrefs and all(h.startswith(("https://", "http://", "#")) for h in page.hrefs)
    text = " ".join("".join(page.text).split())
    assert "At a glance" in text and "Top stories" in text
    assert "Also reported by: Turan Wire: World; Bosphorus Daily; Caspian Report" in text
    assert "link not shown as a link: javascript:alert(document.cookie)" in text


def test_the_digest_page_renders_to_pixels(tmp_path: Path) -> None:
    path, _ = digest_file(tmp_path)
    shot = tmp_path / "digest.png"
    chromium(f"--screenshot={shot}", "--window-size=900,1400", path.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
