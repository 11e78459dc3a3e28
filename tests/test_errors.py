"""The error tree: context as attributes, one line from str()."""

from __future__ import annotations

import pickle

import pytest

from monitor.errors import FeedError, FetchError, MonitorError, NoAnswerError, ParseError


def test_a_feed_error_keeps_its_feed_and_reason_apart() -> None:
    error = FeedError("cw", "https://example.org/cw.xml", "HTTP 500")
    assert (error.feed_id, error.url, error.reason) == (
        "cw",
        "https://example.org/cw.xml",
        "HTTP 500",
    )
    assert str(error) == "feed cw (https://example.org/cw.xml): HTTP 500"
    assert isinstance(error, MonitorError)


def test_a_fetch_error_carries_its_status_and_retry_after() -> None:
    error = FetchError(
        "busy",
        "https://example.org/b.xml",
        "HTTP 429 Too Many Requests",
        status=429,
        retry_after=60,
    )
    assert (error.status, error.retry_after) == (429, 60)
    assert error.reason == "HTTP 429 Too Many Requests"
    assert str(error) == "feed busy (https://example.org/b.xml): HTTP 429 Too Many Requests"
    plain = FetchError("f", "file:///srv/f.xml", "No such file or directory")
    assert (plain.status, plain.retry_after) == (None, None)
    assert not isinstance(plain, NoAnswerError)


def test_no_answer_is_a_fetch_error_without_a_status() -> None:
    error = NoAnswerError("dead", "http://127.0.0.2/x.xml", "cannot connect: Connection refused")
    assert isinstance(error, FetchError)
    assert error.status is None
    assert str(error) == "feed dead (http://127.0.0.2/x.xml): cannot connect: Connection refused"


def test_a_parse_error_names_its_url_when_it_has_one() -> None:
    with_url = ParseError("page", "https://example.org/page", "not a feed")
    assert str(with_url) == "feed page (https://example.org/page): not a feed"
    without = ParseError("page", None, "not a feed")
    assert (without.url, str(without)) == (None, "feed page: not a feed")


def test_str_is_one_line() -> None:
    error = ParseError("j", None, "not valid JSON (Expecting value:\n  line 1 column 1)")
    assert error.reason == "not valid JSON (Expecting value: line 1 column 1)"
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    "error",
    [
        FetchError("a", "https://example.org/a", "HTTP 503", status=503, retry_after=30.0),
        NoAnswerError("b", "https://example.org/b", "timed out after 60 s"),
        ParseError("c", None, "not a feed"),
    ],
)
def test_errors_survive_pickling(error: FeedError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__
