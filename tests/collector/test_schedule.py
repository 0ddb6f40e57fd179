"""trellis/collector/schedule.py: background work every so often, which a failing turn does not end."""

from __future__ import annotations

import logging
import threading
import time

import duckdb
import pytest

from trellis.collector.schedule import Every


def test_work_runs_every_interval_until_stopped_and_a_failing_turn_ends_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    turns: list[int] = []
    third = threading.Event()

    def work() -> None:
        turns.append(len(turns))
        if len(turns) == 1:
            raise duckdb.IOException("IO Error: the disk is full")
        if len(turns) == 2:
            raise KeyError("a bug")
        third.set()

    schedule = Every("trellis-test", 0.02, work)
    with caplog.at_level(logging.ERROR, logger="trellis.schedule"):
        schedule.start()
        assert third.wait(10)
        schedule.stop()
    count = len(turns)
    time.sleep(0.1)
    assert len(turns) == count  # nothing after stop

    failures = [r for r in caplog.records if r.name == "trellis.schedule"]
    assert [r.getMessage() for r in failures] == [
        "trellis-test failed (IO Error: the disk is full); it runs again in 0.02 s",
        "trellis-test failed ('a bug'); it runs again in 0.02 s",
    ]
    assert not failures[0].exc_info and failures[1].exc_info  # a traceback only for a bug


def test_no_thread_when_the_interval_is_zero() -> None:
    schedule = Every("trellis-test", 0, lambda: None)
    schedule.start()
    schedule.stop()
    assert not any(t.name == "trellis-test" for t in threading.enumerate())
