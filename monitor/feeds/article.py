"""An article page -> the article's main text, without navigation, ads or comments.

Pure: bytes in, text out. trafilatura does the work: on the saved pages of tests/data/pages
(news sites in four languages with menus, advertisements, related links and comments
around the story) it kept every sentence of each story and none of the clutter, where
readability-lxml kept advertisements inside the story; bench/fulltext.py has the
figures. Its fallbacks (readability, jusText) stay on for pages its own rules miss.
"""

from __future__ import annotations

import logging
import re

#: The article's text is cut here: a page is a news story, not a book.
MAX_TEXT = 100_000
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)

# trafilatura reports every page it finds nothing in; the stage says so itself.
logging.getLogger("trafilatura").setLevel(logging.ERROR)


class ExtractError(ValueError):
    """The extractor could not read the page at all (its reason, one line)."""


def decode(body: bytes, content_type: str | None) -> str | bytes:
    """The page as text when its Content-Type names a charset Python knows; the bytes
    otherwise (the extractor then detects the encoding from the page itself)."""
    match = _CHARSET.search(content_type or "")
    if match:
        try:
            return body.decode(match.group(1), "replace")
        except LookupError:
            pass
    return body


def extract_text(body: bytes, url: str | None = None, content_type: str | None = None) -> str:
    """The main text of an article page, paragraphs one a line; "" when the page has
    none that the extractor recognises. Raises ExtractError when the page cannot be read."""
    if not body.strip():
        return ""
    import trafilatura  # about 40 MB: loaded only by a job that has full_text feeds

    try:
        text = trafilatura.extract(
            decode(body, content_type),
            url=url,
            include_comments=False,
            include_tables=True,
            include_images=False,
            deduplicate=False,
        )
    except (ValueError, TypeError, LookupError, RecursionError) as e:  # hostile markup
        raise ExtractError(f"the page could not be read: {e}") from e
    return (text or "").strip()[:MAX_TEXT]
