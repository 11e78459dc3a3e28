"""A feed that says UTF-8 but has a few bad bytes keeps its clean text: only the bad bytes
become U+FFFD, instead of the whole body being read as windows-1252."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.feeds.parse import parse_feed, utf8_repaired

FIXTURE = Path(__file__).resolve().parent / "data" / "poll" / "utf8_bad_bytes.xml"


@pytest.mark.parametrize("content_type", [None, "application/rss+xml; charset=UTF-8"])
def test_clean_items_of_a_utf8_feed_with_bad_bytes_are_not_garbled(
    content_type: str | None,
) -> None:
    first, second, third = parse_feed("sc", FIXTURE.read_bytes(), content_type=content_type).entries
    assert first.title == "Gespräche über Straße und Schiene"
    assert first.summary == "Türkiye und Kasachstan einigen sich über den Mittleren Korridor."
    assert second.title == "İstanbul hosts the OTS summit"
    assert second.summary == (
        "Leaders met in İstanbul; caf\ufffd \ufffd\ufffd the rest of this item is clean."
    )
    assert third.title == "Омуралиев в Баку"


def test_only_bodies_meant_as_utf8_are_repaired() -> None:
    body = FIXTURE.read_bytes()
    assert utf8_repaired(body).count("\ufffd".encode()) == 3
    # Another encoding declared, in the headers or in the document: not ours to change.
    assert utf8_repaired(body, "text/xml; charset=iso-8859-9") == body
    other = body.replace(b'encoding="UTF-8"', b'encoding="windows-1254"')
    assert utf8_repaired(other) == other
    # A windows-1252 body mislabelled UTF-8 has no well-formed UTF-8 character: feedparser's
    # own fallback reads it right.
    latin = "<?xml version='1.0' encoding='utf-8'?><rss><t>café über</t></rss>".encode("cp1252")
    assert utf8_repaired(latin) == latin
    clean = "<rss><t>über</t></rss>".encode()
    assert utf8_repaired(clean) is clean
