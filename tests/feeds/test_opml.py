"""OPML 2.0 import into monitor.yaml and export of the polled feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import load_settings
from monitor.errors import ConfigError
from monitor.feeds.opml import import_opml, merge_into_config, parse_opml, render_opml
from monitor.model import FeedState

from ..helpers import ROOT

NOW = datetime(2025, 12, 16, 6, 0, tzinfo=UTC)

OPML = b"""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0">
  <head><title>Reader export</title></head>
  <body>
    <outline text="Central Asia" title="Central Asia">
      <outline type="rss" text="The Astana Times" xmlUrl="https://astanatimes.com/feed/"
               htmlUrl="https://astanatimes.com/"/>
      <outline type="rss" text="Gazeta.uz" xmlUrl="https://www.gazeta.uz/en/rss/"/>
    </outline>
    <outline type="rss" text="Haber &amp; Analiz" xmlUrl="https://haber.example.com.tr/rss?x=1&amp;y=2"/>
    <outline text="A folder without feeds"/>
  </body>
</opml>
"""

CONFIG = f"""# monitor configuration
storage: sqlite:///state/monitor.db
rules: [{ROOT / "rules"}]
templates: {ROOT / "templates"}

feeds:
  # Bundled with the package.
  - id: sample
    url: bundled:sample.xml

  - id: astana-times
    url: https://astanatimes.com/feed/   # already here

  # - id: the-astana-times
  #   url: https://example.org/commented-out

digests:
  - id: daily
    deliver: [file]
"""


def test_parse_opml_walks_folders() -> None:
    feeds = parse_opml(OPML)
    assert [(f.title, f.url, f.folders) for f in feeds] == [
        ("The Astana Times", "https://astanatimes.com/feed/", ("Central Asia",)),
        ("Gazeta.uz", "https://www.gazeta.uz/en/rss/", ("Central Asia",)),
        ("Haber & Analiz", "https://haber.example.com.tr/rss?x=1&y=2", ()),
    ]
    assert feeds[0].html_url == "https://astanatimes.com/"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<opml><body><outline", "not valid XML"),
        (b"<rss version='2.0'/>", "not an OPML document"),
        (b"<opml version='2.0'><head/></opml>", "an OPML document needs a <body>"),
    ],
)
def test_bad_opml_is_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"^subs\.opml: {message}"):
        parse_opml(data, "subs.opml")


def test_merge_adds_new_feeds_after_the_last_one_and_keeps_comments() -> None:
    text, report = merge_into_config(CONFIG, parse_opml(OPML), note="imported from subs.opml")
    assert report.added == [
        ("gazeta-uz", "https://www.gazeta.uz/en/rss/"),
        ("haber-analiz", "https://haber.example.com.tr/rss?x=1&y=2"),
    ]
    assert report.skipped == ["https://astanatimes.com/feed/"]
    assert "# Bundled with the package." in text
    assert "#   url: https://example.org/commented-out" in text
    new_block = (
        "  # imported from subs.opml\n"
        "  - id: gazeta-uz\n"
        '    url: "https://www.gazeta.uz/en/rss/"\n'
        '    title: "Gazeta.uz"\n'
        "  - id: haber-analiz\n"
        '    url: "https://haber.example.com.tr/rss?x=1&y=2"\n'
        '    title: "Haber & Analiz"\n'
        "\n"
        "digests:\n"
    )
    assert new_block in text


def test_merge_without_a_feeds_section_and_ids_that_clash() -> None:
    base = "storage: sqlite:///x.db\n"
    feeds = parse_opml(OPML)
    feeds[1] = type(feeds[1])(url="https://other.example.org/rss", title="Gazeta.uz")
    text, report = merge_into_config(base, [feeds[1], *parse_opml(OPML)[1:2]])
    assert [fid for fid, _ in report.added] == ["gazeta-uz", "gazeta-uz-2"]
    assert text.startswith(base + "\nfeeds:\n  - id: gazeta-uz\n")


def test_import_writes_a_valid_config(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    opml = tmp_path / "subs.opml"
    opml.write_bytes(OPML)
    report = import_opml(config, opml, validate=load_settings, now=NOW)
    assert len(report.added) == 2
    settings = load_settings(config, {})
    assert [f.id for f in settings.feeds] == ["sample", "astana-times", "gazeta-uz", "haber-analiz"]
    again = import_opml(config, opml, validate=load_settings, now=NOW)
    assert again.added == [] and len(again.skipped) == 3
    assert list(tmp_path.glob(".import-*")) == []


def test_import_that_would_break_the_config_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "monitor.yaml"
    broken = CONFIG.replace("digests:", "unknown_key: 1\ndigests:")
    config.write_text(broken, encoding="utf-8")
    opml = tmp_path / "subs.opml"
    opml.write_bytes(OPML)
    with pytest.raises(ConfigError, match="would make the configuration invalid"):
        import_opml(config, opml, validate=load_settings, now=NOW)
    assert config.read_text(encoding="utf-8") == broken


def test_export_is_opml_2_that_reads_back() -> None:
    feeds = [
        FeedState(id="sample", url="file:///opt/monitor/sample.xml"),
        FeedState(id="aa-en", url="https://www.aa.com.tr/en/rss/default?cat=guncel"),
        FeedState(id="haber", url="https://haber.example.com.tr/rss", title='Haber "Hattı" & Co'),
    ]
    text = render_opml(feeds, now=NOW)
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    assert "<dateCreated>Tue, 16 Dec 2025 06:00:00 +0000</dateCreated>" in text
    back = parse_opml(text.encode())
    assert [(f.title, f.url) for f in back] == [
        ("aa-en", "https://www.aa.com.tr/en/rss/default?cat=guncel"),
        ('Haber "Hattı" & Co', "https://haber.example.com.tr/rss"),
    ]
