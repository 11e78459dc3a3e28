"""The collector's setting while a poll runs: raised for the poll, put back after it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

from monitor.collector import YOUNG_COLLECTION, collecting_less, fewer_collections


def test_a_poll_collects_young_objects_less_often_and_puts_the_setting_back() -> None:
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] == max(before[0], YOUNG_COLLECTION)
        assert gc.get_threshold()[1:] == before[1:]
        with fewer_collections():  # a second poll at the same time: one setting
            assert gc.get_threshold()[0] == max(before[0], YOUNG_COLLECTION)
        assert gc.get_threshold()[0] == max(before[0], YOUNG_COLLECTION)  # the first runs on
    assert gc.get_threshold() == before


def test_the_setting_is_put_back_when_a_poll_fails_or_is_left_early() -> None:
    before = gc.get_threshold()
    seen: list[tuple[int, ...]] = []

    @collecting_less
    def results(fail: bool) -> Iterator[int]:
        seen.append(gc.get_threshold())
        yield 1
        if fail:
            raise ValueError("a bug")
        yield 2

    assert list(results(False)) == [1, 2]
    assert seen[-1][0] == max(before[0], YOUNG_COLLECTION)
    assert gc.get_threshold() == before
    try:
        list(results(True))
    except ValueError:
        pass
    else:
        raise AssertionError("the error must come through")
    assert gc.get_threshold() == before
    early = results(False)
    assert next(early) == 1
    assert gc.get_threshold()[0] == max(before[0], YOUNG_COLLECTION)
    early.close()  # the caller stopped iterating
    assert gc.get_threshold() == before
