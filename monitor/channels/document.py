"""The JSON document of a message, which the json, atom, webhook and Apprise channels send,
and the short text or Markdown an Apprise service gets, cut to the service's size.

The document is ``monitor digest --json``'s::

    {"digest": ID, "kind": "digest", "title": ..., "message_id": ..., "generated": ...,
     "test": false,
     "stories": [{"id", "title", "topic", "topic_id", "rules": [...], "why",
                  "items": [{"feed", "feed_title", "title", "url", "published"}]}]}

Pure: no I/O, no clock (``now`` is handed in).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from monitor.model import Message, RenderJob, Story
from monitor.protocols import MessageRenderer

#: The namespace of story and feed ids (uuid5), so they are the same on every run.
NAMESPACE = uuid.UUID("5b0e7d0c-3f5e-4c55-9a43-6d6f6e69746f")

Document = dict[str, Any]


def iso(when: datetime | None) -> str | None:
    """``2025-12-16T06:00:00Z``: RFC 3339 in UTC."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def config_id(target: str) -> str:
    """``daily`` of the target key ``daily:hooks`` (ids have no colon)."""
    return target.split(":", 1)[0]


def story_id(digest: str, key: str) -> str:
    """A story's stable id in one digest: the same item gives the same id on every run,
    so a feed reader never shows it twice."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, digest + chr(10) + key)}"


def story_json(story: Story, digest: str) -> dict[str, Any]:
    """One story as `monitor digest --json` prints it (and every structured channel sends),
    with an ``id`` that stays the same for the story from run to run (Atom entry ids)."""
    lead = story.items[0] if story.items else None
    key = str(story.id) if story.id is not None else f"{lead.feed_id}\n{lead.title}" if lead else ""
    return {
        "id": story_id(digest, key),
        "story_id": story.id,
        "title": story.title,
        "topic": story.topic,
        "topic_id": story.topic_id,
        "rules": list(story.rules),
        "why": story.why,
        "items": [
            {
                "feed": copy.feed_id,
                "feed_title": copy.feed,
                "outlet": copy.feed,
                "title": copy.title,
                "url": copy.url,
                "published": iso(copy.published) if copy.published else None,
            }
            for copy in story.items
        ],
    }


def digest_document(message: Message, *, title: str, kind: str, now: datetime) -> Document:
    """The document of a rendered message: its stories, as the digest shows them."""
    digest = config_id(message.target)
    stories = [story_json(s, digest) for s in message.stories]
    return _envelope(digest, kind, title, message.message_id, now, stories)


# ---------------------------------------------------------------------------------------


def _envelope(
    digest: str,
    kind: str,
    title: str,
    message_id: str,
    now: datetime,
    stories: list[dict[str, Any]],
    *,
    test: bool = False,
) -> Document:
    return {
        "digest": digest,
        "kind": kind,
        "title": title,
        "message_id": message_id,
        "generated": iso(now),
        "test": test,
        "stories": stories,
    }


class WithDocument:
    """A MessageRenderer that adds the document to each message its inner renderer makes."""

    def __init__(self, inner: MessageRenderer) -> None:
        self.inner = inner

    def render(self, job: RenderJob) -> Message:
        """The inner renderer's message, with its document."""
        message = self.inner.render(job)
        document = digest_document(message, title=job.title, kind=job.kind, now=job.now)
        return replace(message, document=document)


def trial_message(
    target: str, title: str, now: datetime, recipients: Sequence[str] = ()
) -> Message:
    """A short message that says it is a test, with an empty document marked ``test``."""
    message_id = f"<test-{uuid.uuid4().hex}@monitor>"
    text = (
        f"This is a test message from monitor for {title} ({target}).\n"
        "If you can read it, this channel works. It carries no news.\n"
    )
    return Message(
        target=target,
        kind="digest",
        message_id=message_id,
        subject=f"[{title}] monitor test message",
        text=text,
        html=f"<p>{_escape_html(text)}</p>",
        recipients=tuple(recipients),
        created=now,
        document=_envelope(config_id(target), "digest", title, message_id, now, [], test=True),
    )


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- short bodies

_MARKDOWN_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]()#+-.!|<>~"})


def _story_line(story: Mapping[str, Any], markdown: bool) -> str:
    item = story["items"][0] if story.get("items") else {}
    title = " ".join(str(story.get("title") or "(untitled)").split())
    topic = " ".join(str(story.get("topic") or "").split())
    feed = " ".join(str(item.get("feed_title") or item.get("feed") or "").split())
    url = item.get("url")
    more = f" (+{len(story['items']) - 1} more)" if len(story.get("items", ())) > 1 else ""
    if markdown:
        head = f"[{title.translate(_MARKDOWN_SPECIAL)}]({url})" if url else title
        tail = " · ".join(p.translate(_MARKDOWN_SPECIAL) for p in (topic, feed) if p)
        return f"- {head}{more}" + (f" — {tail}" if tail else "")
    tail = " · ".join(p for p in (topic, feed) if p)
    line = f"- {title}{more}" + (f" ({tail})" if tail else "")
    return f"{line}\n  {url}" if url else line


def short_body(message: Message, *, markdown: bool, limit: int, link: str | None = None) -> str:
    """The stories of a message, one line each (text or Markdown), cut to ``limit``
    characters; a cut body ends with how many stories are left out and a link to the
    rest (``link``, else the first story left out)."""
    document = message.document or {}
    stories = list(document.get("stories") or ())
    if not stories:
        body = message.text.strip() if document.get("test") or not document else ""
        return _cut(body or "No new items.", limit)
    lines = [_story_line(story, markdown) for story in stories]
    body = "\n".join(lines)
    if len(body) <= limit:
        return body
    kept: list[str] = []
    for i, line in enumerate(lines):
        rest = stories[i:]
        where = link or next((s["items"][0]["url"] for s in rest if s["items"][0]["url"]), "")
        tail = f"… and {len(rest)} more" + (f": {where}" if where else "")
        if len("\n".join([*kept, line, tail])) > limit:
            if not kept:  # not even one story fits: cut its line
                return _cut(f"{line}\n{tail}", limit)
            return "\n".join([*kept, tail])
        kept.append(line)
    return body


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"
