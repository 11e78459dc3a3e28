"""`deliver:` entries: words, URLs, names from the environment and mappings; their stable
names; and every wrong one refused in one line with its file and line, no secret in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.channels.spec import Channel, mask, parse_channel, shown_url, unique, url_secrets
from monitor.config import load_settings
from monitor.errors import ConfigError

from .conftest import write_project

ENV = {
    "SLACK_URL": "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/",
    "HOOK_TOKEN": "tok3n-abcdef",
    "MONITOR_CHANNEL_TEAM_CHAT": "tgram://123456789:abcdefg_hijklmnop/12315544/",
}


@pytest.mark.parametrize(
    ("entry", "name", "kind", "shown"),
    [
        ("file", "file", "file", "file"),
        ("email", "email", "email", "email"),
        ("atom", "atom", "atom", "atom"),
        ("json", "json", "json", "json"),
        ("https://hooks.example.org/monitor", "https-84aea8c0", "webhook", None),
        ("http://127.0.0.1:8080/hook/${HOOK_TOKEN}", "http-cc3d302a", "webhook", None),
        ("${SLACK_URL}", "slack-c36dff1b", "apprise", "slack://***"),
        ("team-chat", "team-chat", "apprise", "tgram://***"),
        ({"name": "team-chat"}, "team-chat", "apprise", "tgram://***"),
        ({"channel": "ntfy://ntfy.sh/alerts", "name": "phone"}, "phone", "apprise", None),
    ],
)
def test_each_kind_of_entry(entry: object, name: str, kind: str, shown: str | None) -> None:
    channel = parse_channel(entry, ENV)
    assert (str(channel), channel.kind) == (name, kind)
    if shown is not None:
        assert channel.shown == shown
    assert "T1JJ3T3L2" not in repr(channel) and "tok3n" not in repr(channel)


def test_urls_are_shown_by_scheme_and_host_only() -> None:
    assert parse_channel("https://hooks.example.org/monitor", {}).shown == (
        "https://hooks.example.org/***"
    )
    assert parse_channel("http://127.0.0.1:8080/hook/${HOOK_TOKEN}", ENV).shown == (
        "http://127.0.0.1:8080/***"
    )
    assert parse_channel("https://hooks.example.org", {}).shown == "https://hooks.example.org"
    assert shown_url("json://user:pass@example.org", ["pass"]) == "json://example.org/***"
    assert shown_url("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", []) == "discord://***"
    assert shown_url("not a url", []) == "***"


def test_a_name_is_the_scheme_and_a_hash_of_the_entry_as_written() -> None:
    import hashlib

    written = "http://127.0.0.1:8080/hook/${HOOK_TOKEN}"
    digest = hashlib.sha256(written.encode()).hexdigest()[:8]
    assert str(parse_channel(written, ENV)) == f"http-{digest}" == "http-cc3d302a"


def test_the_name_stays_when_the_secret_behind_a_variable_changes() -> None:
    one = parse_channel("${SLACK_URL}", ENV)
    other = parse_channel("${SLACK_URL}", {"SLACK_URL": "slack://T2/B2/C2ZZZZZZZZZZZZ/"})
    assert str(one) == str(other) and one.url != other.url


def test_the_secrets_of_a_url_are_masked_and_its_host_name_is_not() -> None:
    url = (
        "https://user:pa55word@hooks.example.org/services/T000/B000/XXXXXXXXXXXXXXXXXXXX?k=s3cr3t9"
    )
    secrets = url_secrets(url)
    text = (
        f"POST {url} failed; user pa55word; path /services/T000/B000/XXXXXXXXXXXXXXXXXXXX; s3cr3t9"
    )
    masked = mask(text, secrets)
    for secret in ("pa55word", "XXXXXXXXXXXXXXXXXXXX", "s3cr3t9", url):
        assert secret not in masked
    assert "hooks.example.org" in mask("sending to hooks.example.org", secrets)
    assert mask("a b", ["a"]) == "a b"  # too short to be a secret worth hiding


def test_a_mapping_carries_the_options_of_its_kind() -> None:
    hook = parse_channel(
        {
            "channel": "https://h.example.org/x",
            "secret": "${HOOK_TOKEN}",
            "timeout": 3,
            "retries": 0,
        },
        ENV,
    )
    assert (hook.secret, hook.timeout, hook.retries) == ("tok3n-abcdef", 3.0, 0)
    assert "tok3n-abcdef" in hook.secrets
    atom = parse_channel({"channel": "atom", "entries": 10, "link": "https://e.org/d.atom"}, {})
    assert (str(atom), atom.entries, atom.link) == ("atom", 10, "https://e.org/d.atom")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "emial",
            "'emial' is not a channel: use file, email, atom, json, a URL, or set "
            "MONITOR_CHANNEL_EMIAL",
        ),
        ("${NOPE}", "${NOPE} is not set in the environment"),
        ("https://x.org/${bad-name}", "${bad-name} is not a variable name"),
        ("http://", "the webhook URL has no host"),
        ("http://x.org:port/", "not a valid webhook URL"),
        ("https://x.org/a b", "no spaces or control characters"),
        ("::nothing", "not a channel: use file, email, atom, json, an http(s) URL"),
        (5, "a channel is a word (file, email, atom, json), a URL or a mapping, not int"),
        ({"chanel": "atom"}, "unknown key 'chanel' in a channel"),
        ({"secret": "x"}, "a channel needs `channel:`"),
        ({"name": "nobody"}, "channel 'nobody' has no `channel:` and MONITOR_CHANNEL_NOBODY"),
        ({"channel": "atom", "name": "feed"}, "the atom channel is named atom"),
        ({"channel": "https://x.org", "name": "email"}, "'email' is a channel word"),
        ({"channel": "https://x.org", "name": "a b"}, "a channel name is letters"),
        ({"channel": "https://x.org", "name": "ab\n"}, "a channel name is letters"),
        ("team\n", "not a channel: use file, email, atom, json"),
        ({"channel": "atom", "secret": "x"}, "`secret:` is for webhook channels, not atom"),
        ({"channel": "json", "entries": 5}, "`entries:` is for atom channels, not json"),
        ({"channel": "atom", "entries": 0}, "`entries:` is between 1 and 1000"),
        ({"channel": "atom", "entries": 2.5}, "`entries:` is a whole number"),
        ({"channel": "https://x.org", "timeout": "10s"}, "`timeout:` is a number"),
        ({"channel": "https://x.org", "secret": ""}, "`secret:` is text"),
        ({"channel": "atom", "link": "ftp://x.org/f"}, "`link:` is an http(s) URL"),
        ({"channel": 7}, "`channel:` is a word or a URL, not int"),
    ],
)
def test_a_wrong_entry_is_refused_in_words(entry: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_channel(entry, ENV)
    assert message in str(caught.value)


def test_an_apprise_url_without_apprise_installed_says_how_to_install_it() -> None:
    with pytest.raises(ValueError, match=r"slack:// is an Apprise URL: install Apprise \(pip"):
        parse_channel("${SLACK_URL}", ENV, apprise_installed=False)
    assert parse_channel("https://x.org/h", {}, apprise_installed=False).kind == "webhook"


def test_two_channels_under_one_name_are_refused_and_repeats_dropped() -> None:
    a = parse_channel({"channel": "https://a.org/x", "name": "hooks"}, {})
    b = parse_channel({"channel": "https://b.org/x", "name": "hooks"}, {})
    assert unique([a, parse_channel({"channel": "https://a.org/x", "name": "hooks"}, {})]) == (a,)
    with pytest.raises(ValueError, match="two channels are named 'hooks'"):
        unique([a, b])


def test_a_channel_is_its_name_and_survives_a_copy() -> None:
    import copy

    channel = parse_channel("${SLACK_URL}", ENV)
    assert copy.deepcopy(channel).url == channel.url
    assert Channel("email").kind == "email" and Channel("file") == "file"


# --------------------------------------------------------------------------- in monitor.yaml


def delivering_to(folder: Path, *entries: str, extra: str = "") -> Path:
    """A project whose digest's `deliver:` is a block list of these entries (a mapping's
    further keys on lines of their own)."""
    deliver = "".join(f"\n      - {entry}" for entry in entries)
    return write_project(folder, deliver, storage="sqlite:///state/monitor.db", extra=extra)


def test_the_config_reads_channels_with_the_environment_it_is_given(tmp_path: Path) -> None:
    path = delivering_to(
        tmp_path,
        "file",
        "${SLACK_URL}",
        "channel: https://h.example.org/x\n        name: hooks\n        secret: ${HOOK_TOKEN}",
    )
    (daily,) = load_settings(path, ENV).digests
    assert daily.deliver == ("file", "slack-c36dff1b", "hooks")
    assert [c.kind for c in daily.deliver] == ["file", "apprise", "webhook"]


def test_wrong_channels_in_the_config_name_file_and_line(tmp_path: Path) -> None:
    path = delivering_to(
        tmp_path,
        "file",
        "${SLACK_URL}",
        "channel: https://a.org/x\n        name: x",
        "channel: https://b.org/x\n        name: x",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert caught.value.problems == (
        f"{path}:11: digests[0].deliver[1]: ${{SLACK_URL}} is not set in the environment",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, ENV)
    assert caught.value.problems == (
        f"{path}:9: digests[0].deliver: two channels are named 'x': give one a `name:`",
    )


def test_recipients_from_the_environment_turn_email_on_beside_mapped_channels(
    tmp_path: Path,
) -> None:
    path = delivering_to(
        tmp_path, "channel: atom\n        entries: 5", extra="smtp:\n  host: mail.example.org\n"
    )
    env = {"MONITOR_DIGEST_TO": "desk@example.org"}
    (daily,) = load_settings(path, env).digests
    assert daily.deliver == ("atom", "email") and daily.recipients == ("desk@example.org",)
