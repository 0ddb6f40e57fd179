"""Answers asked of a running collector (``POST /api/v1/analytics/{job}``), read as Arrow so that every
column keeps its type."""

from __future__ import annotations

import time
from typing import Any

import polars as pl

from trellis.analytics.answers import Answer
from trellis.analytics.slices import Slice
from trellis.analytics.sources import Period
from trellis.collector import Client


def answer_body(period: Period, slice_: Slice) -> dict[str, Any]:
    """What the route takes: the period and the teams and environments asked about."""
    return {
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "teams": list(slice_.teams),
        "environments": list(slice_.environments),
    }


def fetch_answer(client: Client, job: str, period: Period, slice_: Slice) -> Answer:
    """One job's answer, computed by the collector for the request (nothing is stored)."""
    started = time.perf_counter()
    table = client.post_arrow(f"/api/v1/analytics/{job}", answer_body(period, slice_))
    frame: pl.DataFrame = pl.from_arrow(table)  # type: ignore[assignment]
    return Answer(job, period, slice_, frame, time.perf_counter() - started)


__all__ = ["answer_body", "fetch_answer"]
