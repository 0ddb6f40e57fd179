"""trellis/analytics/run_sources.py: within a run, what jobs share is opened once, and closed when its kind is released
or the run ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from trellis.analytics.run_sources import RunSources, holds, shared
from trellis.analytics.sources import Sources


class Opener:
    """A shared value's context that records when it is entered and left."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @contextmanager
    def open(self, value: str) -> Iterator[str]:
        self.events.append(f"open {value}")
        yield value
        self.events.append(f"close {value}")


def test_plain_sources_open_and_close_what_each_job_asks_for(con: duckdb.DuckDBPyConnection) -> None:
    opener, sources = Opener(), Sources(con)
    for _ in range(2):
        with shared(sources, ("a",), lambda: opener.open("a")) as value:
            assert value == "a"
    assert opener.events == ["open a", "close a", "open a", "close a"]
    assert not holds(sources, ("a",))


def test_a_run_opens_each_key_once_and_closes_everything_at_its_end(con: duckdb.DuckDBPyConnection) -> None:
    opener = Opener()
    with RunSources(con) as sources:
        for name in ("a", "b", "a"):
            with shared(sources, (name, 1), lambda name=name: opener.open(name)) as value:
                assert value == name
        assert holds(sources, ("a", 1)) and not holds(sources, ("a", 2))
        assert opener.events == ["open a", "open b"]
    assert sorted(opener.events[2:]) == ["close a", "close b"]
    assert not holds(sources, ("a", 1))


def test_releasing_a_kind_closes_its_keys_only(con: duckdb.DuckDBPyConnection) -> None:
    opener = Opener()
    with RunSources(con) as sources:
        for key in (("a", 1), ("a", 2), ("b", 1)):
            with shared(sources, key, lambda key=key: opener.open(f"{key[0]}{key[1]}")):
                pass
        sources.release("a")
        assert sorted(opener.events[3:]) == ["close a1", "close a2"]
        assert holds(sources, ("b", 1)) and not holds(sources, ("a", 1))
        with shared(sources, ("a", 1), lambda: opener.open("a1")):
            pass
    assert opener.events[5] == "open a1"
    assert sorted(opener.events[6:]) == ["close a1", "close b1"]
