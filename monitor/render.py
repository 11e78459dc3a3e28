"""Jinja2: stored hits -> Message (text and HTML): one entry per story (layout.py).

Feed text is untrusted: HTML templates autoescape, highlighting hands the templates plain
(text, marked) segments, never markup, and only http and https links are ever links.
StrictUndefined makes a typo in a template an error at check time, not a blank in a digest.
The HTML is made email-safe after rendering: its stylesheet is inlined into style
attributes (css-inline), which is what mail clients that drop <style> read.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import css_inline
import jinja2
import jinja2.meta

from monitor.errors import RenderError
from monitor.layout import Layout, build, highlight, snippet
from monitor.model import Message, RenderJob

TEMPLATES = ("digest.html", "digest.txt", "alert.html", "alert.txt")

__all__ = ["TEMPLATES", "Renderer", "highlight", "snippet"]


def wrap(text: str, width: int = 76) -> str:
    """Text in lines of at most ``width`` characters, broken at spaces (a word longer than
    a line keeps its own line): Jinja's wordwrap, at a fraction of its cost."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n".join(lines)


class Renderer:
    """Loads the templates once; renders digests and alerts."""

    def __init__(self, templates: Path) -> None:
        self.templates = templates
        self.loader = jinja2.FileSystemLoader(str(templates))
        self.env = jinja2.Environment(
            loader=self.loader,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["wrap"] = wrap
        # Never fetch a stylesheet a template links to; keep @media rules in a <style>.
        self.inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)

    def check(self) -> list[str]:
        """Every template problem, each naming file and line: the four templates', and
        those of the templates they extend or include (base.html, story.html)."""
        problems = []
        names = list(TEMPLATES)
        for name in names:
            try:
                source = self.loader.get_source(self.env, name)[0]
                self.env.get_template(name)
            except jinja2.TemplateNotFound:
                problems.append(f"{self.templates / name}: template is missing")
                continue
            except jinja2.TemplateSyntaxError as e:
                problems.append(f"{self.templates / name}:{e.lineno}: {e.message}")
                continue
            used = jinja2.meta.find_referenced_templates(self.env.parse(source))
            names.extend(n for n in used if n is not None and n not in names)
        return problems

    def render(self, job: RenderJob) -> Message:
        kind, batch, title, now = job.kind, job.batch, job.title, job.now
        if kind not in ("digest", "alert"):
            raise ValueError(f"unknown message kind {kind!r}")
        tz = ZoneInfo(job.timezone)
        layout = build(batch.hits, job.rules, job.entities or {}, tz)
        subject = self.subject(kind, title, layout, now.astimezone(tz))
        context = {
            "title": title,
            "subject": subject,
            "generated": now.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z"),
            "layout": layout,
            "groups": layout.groups,
            "story_count": len(layout.stories),
            "item_count": layout.items,
            "outlet_count": layout.outlets,
            "hit_count": len(batch.hits),
            "notices": list(job.notices),
            "message_id": batch.message_id,
            "archive": job.archive,
        }
        try:
            text = self.env.get_template(f"{kind}.txt").render(context)
            html = self.env.get_template(f"{kind}.html").render(context)
        except jinja2.TemplateError as e:
            where = f"{getattr(e, 'filename', None) or self.templates}"
            line = getattr(e, "lineno", None)
            raise RenderError(f"{where}{f':{line}' if line else ''}: {e}") from e
        try:
            html = self.inliner.inline(html)
        except (css_inline.InlineError, ValueError) as e:
            raise RenderError(
                f"{self.templates / f'{kind}.html'}: CSS cannot be inlined: {e}"
            ) from e
        return Message(
            target=batch.target,
            kind=kind,  # type: ignore[arg-type]
            message_id=batch.message_id,
            subject=subject,
            text=text,
            html=html,
            recipients=tuple(job.recipients),
            created=now,
            stories=tuple(story.record for story in layout.stories),
        )

    @staticmethod
    def subject(kind: str, title: str, layout: Layout, now: datetime) -> str:
        stories = layout.stories
        if kind == "alert":
            if not stories:
                return f"[{title}] alert"
            lead = layout.top[0]
            more = f" (+{len(stories) - 1} more)" if len(stories) > 1 else ""
            return f"[{title}] {lead.topic}: {lead.title_text}{more}"
        count = f"{len(stories)} new {'story' if len(stories) == 1 else 'stories'}"
        return f"{title}: {count}, {now:%Y-%m-%d}"
