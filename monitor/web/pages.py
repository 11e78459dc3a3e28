"""The archive page's Starlette application: routes, parameters, templates, headers.

Every route reads; none changes state (the try page is a POST only because a rule file's
text is too long for a URL). Parameters are checked here: a bad one is a 400 page with one
line naming it, never a 500. Feed text reaches the page through autoescaping templates
(the Jinja2 environment of render.py), links only when they are http or https, and every
response carries a Content-Security-Policy that allows nothing but this server's own
stylesheet. With a token, every request must bring it (Bearer, or Basic with the token as
password, so a browser asks for it).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.archive import Filters
from monitor.config import parse_duration
from monitor.errors import ConfigError, MonitorError
from monitor.render import Renderer
from monitor.web import trial, views
from monitor.web.views import Archive, BadRequest

log = logging.getLogger(__name__)

#: The longest search query, rule file text and request body accepted.
MAX_QUERY = 1_000
MAX_RULE_TEXT = 100_000
MAX_BODY = 256 * 1024
MAX_PAGE = 10_000
TEMPLATES = (
    "base.html",
    "macros.html",
    "stories.html",
    "story.html",
    "topics.html",
    "feeds.html",
    "try.html",
    "error.html",
)
STATIC = {"app.css": "text/css; charset=utf-8"}
PERIODS = ("7d", "30d", "90d", "180d", "365d")

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


def when(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if value else "-"


class Pages:
    """The pages over one Archive, rendered with the templates of one folder."""

    def __init__(
        self, archive: Archive, templates: Path, *, kinds: Mapping[str, str] | None = None
    ) -> None:
        self.archive = archive
        self.kinds = dict(kinds or {})
        renderer = Renderer(templates)
        problems = [
            f"{templates / name}: template is missing"
            for name in TEMPLATES
            if not (templates / name).is_file()
        ]
        if problems:
            raise ConfigError(problems[0], problems)
        self.env = renderer.env
        self.env.filters["when"] = when
        self.env.globals["link"] = link
        self.static = {name: (templates / "static" / name).read_bytes() for name in STATIC}

    def render(self, name: str, code: int = 200, /, **context: Any) -> HTMLResponse:
        html = self.env.get_template(name).render(context)
        return HTMLResponse(html, status_code=code)

    # ------------------------------------------------------------------ routes

    def stories(self, request: Request) -> Response:
        params = request.query_params
        query = _text(params, "q", MAX_QUERY)
        ruleset = self.archive.rules()
        feed = params.get("feed") or None
        known_feeds = self.archive.store.feed_ids()
        if feed and feed not in known_feeds:
            raise BadRequest(f"feed: no feed {feed!r} in the store")
        priority = params.get("priority") or None
        if priority not in (None, "high", "normal"):
            raise BadRequest(f"priority: {priority!r} is not high or normal")
        since, until = _day(params, "since"), _day(params, "until")
        if since and until and since > until:
            raise BadRequest(f"since ({since}) is after until ({until})")
        filters = Filters(
            rule_ids=views.rule_filter(ruleset, params.get("topic"), params.get("tag")),
            priority=priority,
            feeds=(feed,) if feed else (),
            since=_start(since),
            until=_start(until + timedelta(days=1)) if until else None,
            matched=params.get("all") != "1",
        )
        page = _page(params)
        result = views.listing(self.archive, filters, query, page)
        current = {k: v for k, v in params.items() if k != "page" and v}
        return self.render(
            "stories.html",
            listing=result,
            params=current,
            query=query,
            rules=ruleset.rules,
            tags=sorted({t for r in ruleset.rules for t in r.tags}),
            feeds=known_feeds,
        )

    def story(self, request: Request) -> Response:
        raw = request.path_params["story_id"]
        if not raw.isdigit() or len(raw) > 18:
            raise BadRequest(f"story: {raw[:40]!r} is not a story number")
        query = _text(request.query_params, "q", MAX_QUERY)
        page = views.story_page(self.archive, int(raw), query, self.kinds)
        if page is None:
            raise HTTPException(404, f"no story {raw} in the store (it may have been pruned)")
        return self.render("story.html", story=page)

    def topics(self, request: Request) -> Response:
        return self.render("topics.html", topics=views.topics(self.archive))

    def feeds(self, request: Request) -> Response:
        return self.render("feeds.html", feeds=views.feeds(self.archive))

    async def trial(self, request: Request) -> Response:
        if request.method == "GET":
            return self._trial_form(mode="query", text="", name="new.yaml", period="30d")
        form = await _form(request)
        mode = str(form.get("mode") or "query")
        name = str(form.get("name") or "new.yaml")
        period = str(form.get("period") or "30d")
        limit = MAX_QUERY if mode == "query" else MAX_RULE_TEXT
        text = _text(form, "text", limit)
        context = {"mode": mode, "text": text, "name": name, "period": period}
        try:
            since = self.archive.clock() - timedelta(seconds=_period(period))
            if not text.strip():
                raise BadRequest("text: give a query or a rule file's text")
            if mode == "query":
                result = trial.trial_of_query(self.archive, text, since)
            elif mode == "file":
                result = trial.trial_of_file(self.archive, text, _file_name(name), since)
            else:
                raise BadRequest(f"mode: {mode[:40]!r} is not query or file")
        except BadRequest as e:
            return self._trial_form(400, error=str(e), **context)
        return self._trial_form(result=result, **context)

    def _trial_form(self, code: int = 200, /, **context: Any) -> Response:
        names = [p.name for p in _rule_files(self.archive.rule_paths)]
        context.setdefault("error", None)
        context.setdefault("result", None)
        return self.render("try.html", code, files=names, periods=PERIODS, **context)

    def static_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.static:
            raise HTTPException(404, "no such file")
        return Response(self.static[name], media_type=STATIC[name])

    # ------------------------------------------------------------------ errors

    def bad_request(self, request: Request, exc: Exception) -> Response:
        return self.render("error.html", 400, status=400, message=str(exc))

    def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return self.render(
            "error.html", exc.status_code, status=exc.status_code, message=exc.detail
        )

    def store_error(self, request: Request, exc: Exception) -> Response:
        log.error("archive page: %s", exc)
        return self.render(
            "error.html", 503, status=503, message=f"the store cannot be read: {exc}"
        )


def make_app(pages: Pages, *, token: str | None = None) -> ASGIApp:
    """The ASGI application: the routes behind the guard (token, security headers)."""
    app = Starlette(
        routes=[
            Route("/", pages.stories, methods=["GET"]),
            Route("/story/{story_id}", pages.story, methods=["GET"]),
            Route("/topics", pages.topics, methods=["GET"]),
            Route("/feeds", pages.feeds, methods=["GET"]),
            Route("/try", pages.trial, methods=["GET", "POST"]),
            Route("/static/{name}", pages.static_file, methods=["GET"]),
            Route("/favicon.ico", lambda _: Response(status_code=204), methods=["GET"]),
        ],
        exception_handlers={
            BadRequest: pages.bad_request,
            HTTPException: pages.http_error,
            MonitorError: pages.store_error,
        },
        max_body_size=MAX_BODY,
    )
    return Guard(app, token)


class Guard:
    """ASGI middleware: the token (when set) before anything, security headers on every
    response."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers[key] = value
            await send(message)

        if self.token and not authorized(scope, self.token):
            response = PlainTextResponse(
                "This page needs the token (MONITOR_WEB_TOKEN).\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="monitor", charset="UTF-8"'},
            )
            await response(scope, receive, secured)
            return
        await self.app(scope, receive, secured)


def authorized(scope: Scope, token: str) -> bool:
    """The request brings the token: ``Bearer TOKEN``, or Basic with it as password."""
    header = ""
    for key, value in scope.get("headers", []):
        if key == b"authorization":
            header = value.decode("latin-1")
    kind, _, credentials = header.partition(" ")
    given = ""
    if kind.lower() == "bearer":
        given = credentials.strip()
    elif kind.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        given = decoded.partition(":")[2]
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


# --------------------------------------------------------------------------- parameters


def link(path: str, params: Mapping[str, Any] | None = None, **changes: Any) -> str:
    """``path`` with the query parameters ``params`` updated by ``changes`` (None drops)."""
    merged = {**(params or {}), **changes}
    kept = {k: str(v) for k, v in merged.items() if v not in (None, "")}
    return path + ("?" + urlencode(kept) if kept else "")


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form's fields (the first of each name); anything else is refused."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadRequest(f"the form must be sent urlencoded, not as {kind[:60] or 'nothing'!r}")
    try:
        body = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the form is not UTF-8 text") from None
    try:
        fields = parse_qs(body, keep_blank_values=True, max_num_fields=10)
    except ValueError:
        raise BadRequest("the form has too many fields") from None
    return {name: values[0] for name, values in fields.items()}


def _text(params: Mapping[str, Any], name: str, limit: int) -> str:
    value = params.get(name) or ""
    if not isinstance(value, str):
        raise BadRequest(f"{name}: not text")
    if len(value) > limit:
        raise BadRequest(f"{name}: {len(value):,} characters is too long (at most {limit:,})")
    bad = next(
        (c for c in value if unicodedata.category(c) in ("Cc", "Cs") and c not in "\t\r\n"), None
    )
    if bad is not None:
        raise BadRequest(f"{name}: the control character U+{ord(bad):04X} is not allowed")
    return value.strip() if name == "q" else value


def _page(params: Mapping[str, str]) -> int:
    raw = params.get("page") or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadRequest(f"page: {raw[:20]!r} is not a page number (1 to {MAX_PAGE:,})")
    return int(raw)


def _day(params: Mapping[str, str], name: str) -> date | None:
    raw = params.get(name) or ""
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name}: {raw[:40]!r} is not a date (write YYYY-MM-DD)") from None


def _start(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), tzinfo=UTC) if day else None


def _period(raw: str) -> float:
    try:
        seconds = parse_duration(raw)
    except ValueError as e:
        raise BadRequest(f"period: {e}") from None
    if seconds <= 0:
        raise BadRequest("period: give a period longer than zero, e.g. 30d")
    return seconds


def _file_name(name: str) -> str:
    name = name.strip()
    if not name or "/" in name or "\\" in name or name.startswith(".") or len(name) > 100:
        raise BadRequest(f"name: {name[:40]!r} is not a rule file name (e.g. trade.yaml)")
    return name if name.endswith((".yaml", ".yml")) else name + ".yaml"


def _rule_files(paths: tuple[Path, ...]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        elif path.is_file():
            out.append(path)
    return out
