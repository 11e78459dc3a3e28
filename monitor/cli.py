"""Command line: parse arguments, call one function, print. A MonitorError becomes one
clear line on stderr and exit status 1, never a traceback."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click

from monitor import app, checks, logs, senders
from monitor.channels.document import story_json
from monitor.config import Settings, load_settings
from monitor.deliver import DeliveryResult
from monitor.errors import ConfigError, MonitorError
from monitor.model import Entry, FeedState, TextReport, utc_now
from monitor.values import feed_url_problem, format_duration, parse_duration

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_CONFIG = "monitor.yaml"


class Duration(click.ParamType):
    """A duration option (``30d``, ``10m``): seconds, or a usage error naming the option."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


def _fail(error: MonitorError) -> None:
    problems = error.problems if isinstance(error, ConfigError) else (str(error),)
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    sys.exit(1)


def reports_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MonitorError as e:
            _fail(e)

    return wrapper  # type: ignore[return-value]


def _settings(ctx: click.Context) -> Settings:
    return load_settings(Path(ctx.obj["config"]))


def _monitor(ctx: click.Context) -> app.Monitor:
    settings = _settings(ctx)
    logging.getLogger().setLevel(ctx.obj["log_level"] or settings.log_level)
    monitor = app.make_monitor(settings)
    ctx.call_on_close(monitor.close)
    return monitor


def _when(value: datetime | None) -> str:
    """A time for people: ``2025-12-16 06:00 UTC`` (stored times are UTC)."""
    return f"{_utc(value):%Y-%m-%d %H:%M} UTC" if value else "-"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _text_argument(value: str) -> str:
    """An argument as text: bytes that were not UTF-8 (kept by Python as lone surrogates,
    which cannot be printed) become U+FFFD."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="monitor", prog_name="monitor", message="%(prog)s %(version)s")
@click.option(
    "--config",
    "-c",
    default=lambda: os.environ.get("MONITOR_CONFIG", DEFAULT_CONFIG),
    show_default="monitor.yaml or $MONITOR_CONFIG",
    help="Configuration file.",
)
@click.option("--verbose", "-v", is_flag=True, help="Log debug detail.")
@click.option("--quiet", "-q", is_flag=True, help="Log warnings and errors only.")
@click.pass_context
def cli(ctx: click.Context, config: str, verbose: bool, quiet: bool) -> None:
    """Watch news feeds for the topics in rules/*.yaml; send digests and alerts."""
    try:
        env_level, log_format = logs.from_env(os.environ)
    except ConfigError as e:
        _fail(e)
    # --verbose and --quiet win over MONITOR_LOG_LEVEL, which wins over log_level in the file.
    level = "DEBUG" if verbose else "WARNING" if quiet else env_level
    logs.configure(level or "INFO", log_format)
    # APScheduler logs every job run at INFO; only its warnings are news.
    logging.getLogger("apscheduler").setLevel("DEBUG" if verbose else "WARNING")
    # A tick that comes while the last poll still runs is skipped, by design: not news.
    logging.getLogger("apscheduler.scheduler").setLevel("DEBUG" if verbose else "ERROR")
    ctx.obj = {"config": config, "log_level": level}


def _group(func: Callable[[click.Context], None]) -> click.Group:
    """A group of subcommands of cli that, given none of them, runs ``func``."""

    @functools.wraps(func)
    def alone(ctx: click.Context) -> None:
        if ctx.invoked_subcommand is None:
            func(ctx)

    return cli.group(invoke_without_command=True)(click.pass_context(reports_errors(alone)))


@cli.command()
@click.option(
    "--once",
    is_flag=True,
    help="One poll, its alerts, and the digests whose scheduled time has come; then exit.",
)
@click.option("--force", is_flag=True, help="With --once: send every digest now, due or not.")
@click.pass_context
@reports_errors
def run(ctx: click.Context, once: bool, force: bool) -> None:
    """Run the job: poll on a tick, send digests on their schedules, alerts at once.
    With --once, exit 1 when every feed or every send failed."""
    from monitor import scheduler

    if force and not once:
        raise click.UsageError("--force goes with --once")
    monitor = _monitor(ctx)
    if once:
        problem = scheduler.run_once(monitor, force=force).failure()
        if problem:
            click.echo(f"error: {problem}", err=True)
            sys.exit(1)
        return
    from monitor.web import server

    page = server.start_for_job(monitor, os.environ.get(server.TOKEN_VARIABLE) or None)
    try:
        scheduler.Scheduler(monitor).run()
    finally:
        if page is not None:
            page.stop()


@cli.command()
@click.pass_context
@reports_errors
def poll(ctx: click.Context) -> None:
    """Poll the feeds that are due once, and send alerts for what they bring."""
    monitor = _monitor(ctx)
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            if not total:
                return
            bar = click.progressbar(length=total, label="polling", file=sys.stdout)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        results = monitor.poll(progress=progress if sys.stdout.isatty() else None)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    monitor.send_alerts()
    for r in results:
        if r.status == "ok":
            detail = f"{r.new_items} new items, {r.new_hits} hits"
        elif r.status == "full_text":
            detail = f"{r.pages} articles in, {r.new_hits} hits" + (
                f"; {r.error}" if r.error else ""
            )
        else:
            detail = r.error or ""
        click.echo(f"{r.feed_id:24} {r.status.replace('_', ' '):13} {detail}")
    if not results:
        click.echo("no feed is due")


def _digest_json(results: list[DeliveryResult]) -> list[dict[str, Any]]:
    """One document per digest: the stories of its first channel's message."""
    out: dict[str, dict[str, Any]] = {}
    for r in results:
        doc = out.setdefault(r.target.config_id, {"digest": r.target.config_id, "stories": []})
        if r.message is not None and not doc["stories"]:
            doc["stories"] = [story_json(s, r.target.config_id) for s in r.message.stories]
    return list(out.values())


@cli.command()
@click.argument("digest_id", required=False)
@click.option("--dry-run", is_flag=True, help="Render and print the text; send and mark nothing.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the digest's stories as JSON (one document per digest).",
)
@click.pass_context
@reports_errors
def digest(ctx: click.Context, digest_id: str | None, dry_run: bool, as_json: bool) -> None:
    """Send a digest now (every digest when no ID is given)."""
    monitor = _monitor(ctx)
    results = monitor.send_digest(digest_id, dry_run=dry_run)
    if as_json:
        for doc in _digest_json(results):
            click.echo(json.dumps(doc, ensure_ascii=False))
    elif dry_run:
        shown: set[str] = set()
        for r in results:
            if r.message and r.target.config_id not in shown:
                shown.add(r.target.config_id)
                click.echo(f"Subject: {r.message.subject}\n\n{r.message.text}")
    if dry_run:
        return
    failed = False
    for r in results:
        click.echo(
            f"{r.target.key:24} {r.status:8} {r.hits} hits{f'  {r.error}' if r.error else ''}",
            err=as_json,
        )
        failed = failed or r.status == "failed"
    if failed:
        sys.exit(1)


@cli.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate the config, rules and templates (no network). Exit 1 on any problem."""
    report = checks.check_config(Path(ctx.obj["config"]), now=utc_now())
    for problem in report.problems:
        click.echo(f"error: {problem}", err=True)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    if report.problems:
        sys.exit(1)
    config = click.format_filename(ctx.obj["config"])
    click.echo(f"{config}: configuration, rules and templates are valid")
    for line in report.next_sends:
        click.echo(line)


@_group
def feeds(ctx: click.Context) -> None:
    """Show each feed's health; import or export the feed list as OPML."""
    from monitor.feeds.health import status

    monitor = _monitor(ctx)
    texts = monitor.text_reports()
    header = (
        f"{'feed':20} {'status':16} {'last success':20} {'items/wk':>8} {'interval':14} "
        f"{'next poll':20} {'full text':22} {'errors':>6}  last error"
    )
    click.echo(header)
    for f in monitor.feeds():
        text = texts.get(f.id)
        note = f.last_error or ""
        if f.waiting_for:
            note = f"{f.waiting_for} asked us to wait (Retry-After); no error counted"
        elif not note and text is not None and text.last_error:
            note = f"an article kept the lead: {text.last_error}"
        click.echo(
            f"{f.id:20} {status(f):16} {_when(f.last_success):20} {f.items_per_week:8.0f} "
            f"{_interval(f):14} {_when(f.next_poll):20} {_full_text(f, text):22} "
            f"{f.error_count:6}  {note[:90]}"
        )


def _interval(feed: FeedState) -> str:
    """Which interval applies: the feed's own, fixed, or the bounds of its rhythm."""
    if feed.fixed_interval:
        return f"fixed {format_duration(feed.min_interval)}"
    return f"{format_duration(feed.min_interval)}-{format_duration(feed.max_interval)}"


def _full_text(feed: FeedState, text: TextReport | None) -> str:
    """off, or the feed's stored items by article state."""
    if text is None:
        return "on" if feed.full_text else "off"
    words = [f"{text.fetched} in"]
    if text.waiting:
        words.append(f"{text.waiting} waiting")
    if text.failed:
        words.append(f"{text.failed} lead only")
    return ", ".join(words)


@feeds.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@reports_errors
def feeds_import(ctx: click.Context, file: Path) -> None:
    """Add the feeds of an OPML file to the configuration file."""
    from monitor.feeds.opml import import_opml

    config = Path(ctx.obj["config"])
    report = import_opml(
        config, file, validate=load_settings, check_url=feed_url_problem, now=utc_now()
    )
    for feed_id, url in report.added:
        click.echo(f"added    {feed_id:24} {url}")
    for url in report.skipped:
        click.echo(f"skipped  {'(already configured)':24} {url}")
    click.echo(
        f"{click.format_filename(config)}: {len(report.added)} feeds added, "
        f"{len(report.skipped)} already there"
    )


@feeds.command("export")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.pass_context
@reports_errors
def feeds_export(ctx: click.Context, output: Path | None) -> None:
    """Print the polled feeds as OPML 2.0, for any feed reader."""
    from monitor.feeds.opml import render_opml

    text = render_opml(_monitor(ctx).feeds(), now=utc_now())
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{output}: cannot write: {e.strerror or e}") from e


@_group
def channels(ctx: click.Context) -> None:
    """List the channels of every digest and alert (secrets masked); test them."""
    for key, channel, _ in senders.channels(_settings(ctx)):
        click.echo(f"{key:32} {channel.kind:8} {channel.shown}")


@channels.command("test")
@click.argument("config_id", metavar="[ID]", required=False)
@click.pass_context
@reports_errors
def channels_test(ctx: click.Context, config_id: str | None) -> None:
    """Send a short test message to each channel of a digest or alert (every one when no
    ID is given) and say what became of each. Exit 1 if any failed."""
    results = senders.try_channels(_settings(ctx), config_id)
    for key, shown, error in results:
        click.echo(f"{key:32} {'failed' if error else 'ok':7} {error or shown}")
    if not results:
        click.echo("no channel to test")
    if any(error for _, _, error in results):
        sys.exit(1)


@cli.command()
@click.option(
    "--max-age",
    type=Duration(),
    default="10m",
    show_default=True,
    help="Healthy when the last tick is younger than this.",
)
@click.pass_context
@reports_errors
def health(ctx: click.Context, max_age: float) -> None:
    """Exit 0 when the running job ticked recently (for container health checks)."""
    last = app.last_heartbeat(_settings(ctx))
    if last is None or utc_now() - last > timedelta(seconds=max_age):
        click.echo(f"unhealthy: last tick {_when(last)}", err=True)
        sys.exit(1)
    click.echo(f"healthy: last tick {_utc(last).isoformat(timespec='seconds')}")


@cli.command()
@click.option("--host", help="Address to listen on (default: web.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: web.port, 8080).")
@click.pass_context
@reports_errors
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the archive page: stories, search, topics, feeds, try a query (read-only)."""
    from monitor.web import server

    settings = _settings(ctx)
    logging.getLogger().setLevel(ctx.obj["log_level"] or settings.log_level)
    server.serve(
        settings,
        host or settings.web.host,
        port or settings.web.port or 8080,
        os.environ.get(server.TOKEN_VARIABLE) or None,
    )


@cli.group()
def rules() -> None:
    """Work with rules."""


@rules.command("test")
@click.argument("text", metavar="[TEXT | RULES_FILE]", required=False)
@click.option(
    "--items",
    "items_file",
    type=click.File("rb"),
    help="JSON lines of items: {id, title, summary, content, feed}.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item.")
@click.option(
    "--since",
    type=Duration(),
    help="Replay items stored in this period (e.g. 30d) against the rules.",
)
@click.option(
    "--rules",
    "rules_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Rule files or folders to test instead of the configured ones.",
)
@click.pass_context
@reports_errors
def rules_test(
    ctx: click.Context,
    text: str | None,
    items_file: Any,
    as_json: bool,
    since: float | None,
    rules_paths: tuple[Path, ...],
) -> None:
    """Show which rules match TEXT (or --items), and why; or replay stored items (--since)
    against the rules, with RULES_FILE, a new or changed rule file, in place of the
    configured file of that name."""
    from monitor.rules import compile_rules, load_rules
    from monitor.rules.explain import entries_from_jsonl, explain_json, format_hits
    from monitor.rules.load import with_changed_file

    settings = _settings(ctx)
    paths = list(rules_paths or settings.rules)
    text = _text_argument(text) if text is not None else None
    if since is not None and text is not None:
        changed = Path(text)
        if not changed.is_file():
            raise ConfigError(f"{changed}: no such rule file (with --since, the argument is one)")
        paths = with_changed_file(paths, changed)
    ruleset = load_rules(paths)
    matcher = compile_rules(ruleset)
    if since is not None:
        now = utc_now()
        start = now - timedelta(seconds=since)
        click.echo(app.replay_rules(settings, matcher, start, now).format())
        return
    if items_file is not None:
        entries: list[Entry] = list(entries_from_jsonl(items_file))
    elif text is not None:
        entries = [Entry(feed_id="cli", id="text", title="", summary=text)]
    else:
        raise ConfigError("give a TEXT, --items FILE or --since PERIOD")
    if as_json:
        for obj in explain_json(matcher, entries):
            click.echo(json.dumps(obj, ensure_ascii=False))
        return
    rules_by_id = ruleset.by_id()
    for entry in entries:
        hits = matcher.match(entry)
        click.echo(format_hits(entry, hits, rules_by_id))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
