"""What a report holds, and how it is built from the ``analytics_*`` tables.

A report is built by running read-only SQL over the analytics tables (and a few counts over the store's own
tables) through a ``Reader``: a running collector's ``/api/v1/query`` or a database file
(``trellis.analytics.report_source``). It has an *about* part (period, teams, where the data came from, what each
job produced and what data was missing) and sections: DORA, adoption, demand, utilization, cost and platform
health. Each section holds tables (``ReportTable``: every row, plus the rows a document shows) and charts
(``Chart``: Vega-Lite specs with their data inline). The renderers (``report_html``, ``report_markdown``,
``report_pdf``, ``report_tables``) only lay out what is here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

import polars as pl

from trellis.analytics.registry import JOBS
from trellis.analytics.sources import Period

DISPLAY_ROWS = 25
"""Rows a document (HTML, Markdown, PDF) shows of a long table; the data formats carry every row."""
CHART_SERIES = 10
"""Teams or definitions a chart draws at most (the largest ones)."""
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
"""Names the Vega-Lite version of the specs; nothing fetches it."""


class Reader(Protocol):
    """Where the report reads: one read-only statement at a time, answered as a DataFrame."""

    source: str
    """Said in the report: 'collector at URL' or 'file PATH'."""
    row_limit: int

    def sql(self, query: str) -> pl.DataFrame: ...

    def tables(self) -> set[str]: ...


@dataclass
class ReportTable:
    """One table of the report: ``frame`` has every row (the data formats write it), ``shown`` what a
    document shows (sorted for reading, at most DISPLAY_ROWS rows)."""

    name: str
    title: str
    frame: pl.DataFrame
    description: str = ""
    shown: pl.DataFrame | None = None
    truncated: bool = False

    @property
    def display(self) -> pl.DataFrame:
        return (self.shown if self.shown is not None else self.frame).head(DISPLAY_ROWS)

    @property
    def display_note(self) -> str:
        shown = self.display.height
        notes = []
        if self.frame.height > shown:
            notes.append(f"showing {shown} of {self.frame.height} rows; the CSV, Parquet and XLSX formats carry all")
        if self.truncated:
            notes.append("the query reached the row limit, so rows are missing")
        return "; ".join(notes)


@dataclass
class Chart:
    """A Vega-Lite spec with its data inline; ``name`` becomes a file name in the Markdown format."""

    name: str
    title: str
    spec: dict[str, Any]


@dataclass
class Section:
    key: str
    title: str
    job: str
    summary: list[str] = field(default_factory=list)
    tables: list[ReportTable] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    period: Period
    team: str | None
    generated_at: datetime
    source: str
    teams: list[str]
    coverage: pl.DataFrame
    """Per job: its table, the rows the report read, the period they were computed for."""
    inputs: pl.DataFrame
    """What the store holds for the period: deployments, incidents, metric points, catalog resolutions."""
    missing: list[str]
    sections: list[Section]

    def about(self) -> pl.DataFrame:
        """The report's metadata as key/value rows (the first sheet or file of the data formats)."""
        rows = [
            ("title", self.title),
            ("period_start", self.period.start.isoformat()),
            ("period_end", self.period.end.isoformat()),
            ("period_note", "half-open [start, end), UTC"),
            ("team_filter", self.team or "(all teams)"),
            ("teams", ", ".join(self.teams) or "(none)"),
            ("source", self.source),
            ("generated_at", self.generated_at.isoformat(timespec="seconds")),
            *(("missing", note) for note in self.missing),
        ]
        return pl.DataFrame({"key": [r[0] for r in rows], "value": [r[1] for r in rows]})

    def tables(self) -> list[ReportTable]:
        """Every table, the about and coverage tables first."""
        head = [
            ReportTable("about", "About this report", self.about()),
            ReportTable("coverage", "Analytics tables read", self.coverage),
            ReportTable("inputs", "Data in the store for the period", self.inputs),
        ]
        return head + [t for s in self.sections for t in s.tables]

    def charts(self) -> list[Chart]:
        return [c for s in self.sections for c in s.charts]

    @property
    def period_label(self) -> str:
        return f"{_moment(self.period.start)} to {_moment(self.period.end)} (end not included, UTC)"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _moment(value: datetime) -> str:
    return value.strftime("%Y-%m-%d") if value == datetime(value.year, value.month, value.day) else value.isoformat()


# ---------------------------------------------------------------------------
# SQL
# ---------------------------------------------------------------------------


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_time(value: datetime) -> str:
    return f"TIMESTAMP '{value.isoformat(sep=' ')}'"


class _Query:
    """Runs the report's statements and remembers which ones reached the row limit."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.available = reader.tables()
        self.truncated: list[str] = []

    def frame(self, name: str, query: str) -> tuple[pl.DataFrame, bool]:
        frame = self.reader.sql(query)
        full = frame.height >= self.reader.row_limit
        if full:
            self.truncated.append(name)
        return frame, full

    def table(self, name: str, title: str, query: str, description: str = "", order: Any = None) -> ReportTable:
        frame, full = self.frame(name, query)
        shown = frame.sort(order, nulls_last=True) if order is not None and frame.height else None
        return ReportTable(name, title, frame, description, shown, full)


# ---------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------


def _values(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: dates and times as ISO text (a date alone, midnight, reads as UTC)."""
    out = []
    for row in frame.to_dicts():
        out.append({k: _json_value(v) for k, v in row.items()})
    return out


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value == datetime(value.year, value.month, value.day):
            return value.strftime("%Y-%m-%d")
        return value.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value != value:
        return None
    return value


def _spec(title: str, frame: pl.DataFrame, body: dict[str, Any], subtitle: str | None = None) -> dict[str, Any]:
    heading: dict[str, Any] = {"text": title}
    if subtitle:
        heading["subtitle"] = subtitle
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "title": heading,
        "width": 640,
        "height": 260,
        "data": {"values": _values(frame)},
        **body,
        "config": {"font": "sans-serif", "legend": {"labelLimit": 180}},
    }


def _time_axis(field_name: str, title: str) -> dict[str, Any]:
    return {"field": field_name, "type": "temporal", "timeUnit": "utcyearmonthdate", "title": title}


def _largest(frame: pl.DataFrame, key: str, weight: str, n: int = CHART_SERIES) -> tuple[pl.DataFrame, str | None]:
    """The rows of the n keys with the largest total weight, and a subtitle saying so when some were left out."""
    totals = frame.group_by(key).agg(pl.col(weight).sum()).sort([weight, key], descending=[True, False])
    if totals.height <= n:
        return frame, None
    keep = totals.head(n)[key]
    return frame.filter(pl.col(key).is_in(keep.implode())), f"the {n} largest of {totals.height} by {weight}"


def line_chart(
    name: str, title: str, frame: pl.DataFrame, x: str, y: str, color: str, y_title: str, y_format: str | None = None
) -> Chart:
    frame, subtitle = _largest(frame, color, y)
    y_enc: dict[str, Any] = {"field": y, "type": "quantitative", "title": y_title}
    if y_format:
        y_enc["axis"] = {"format": y_format}
    body = {
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": _time_axis(x, "week" if "week" in name else "date"),
            "y": y_enc,
            "color": {"field": color, "type": "nominal", "title": color},
            "tooltip": [
                {"field": color, "type": "nominal"},
                _time_axis(x, x),
                {"field": y, "type": "quantitative", "format": y_format or ",.2f"},
            ],
        },
    }
    return Chart(name, title, _spec(title, frame, body, subtitle))


def bar_chart(
    name: str, title: str, frame: pl.DataFrame, category: str, parts: list[str], x_title: str, fmt: str = ",.2f"
) -> Chart:
    """Horizontal stacked bars: one bar per category, one segment per column of ``parts``."""
    frame = frame.with_columns(_total=pl.sum_horizontal(parts))
    frame, subtitle = _largest(frame, category, "_total")
    long = frame.unpivot(index=category, on=parts, variable_name="part", value_name="amount")
    body = {
        "mark": "bar",
        "encoding": {
            "y": {"field": category, "type": "nominal", "sort": "-x", "title": category},
            "x": {"field": "amount", "type": "quantitative", "title": x_title, "stack": "zero"},
            "color": {"field": "part", "type": "nominal", "title": None, "sort": parts},
            "tooltip": [
                {"field": category, "type": "nominal"},
                {"field": "part", "type": "nominal"},
                {"field": "amount", "type": "quantitative", "format": fmt},
            ],
        },
    }
    spec = _spec(title, long, body, subtitle)
    spec["height"] = {"step": 18}
    return Chart(name, title, spec)


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------


Builder = Callable[["_Query", Period, "str | None"], Section]


def _dora(q: _Query, period: Period, team: str | None) -> Section:
    section = Section("dora", "Delivery performance (DORA)", "dora")
    where = "level = 'team'" + (f" AND service_namespace = {sql_string(team)}" if team else "")
    summary = q.table(
        "dora_teams",
        "DORA per team and environment, for the period",
        f"""SELECT service_namespace AS team, environment, production, deployments, successful_deployments,
                   deployment_days, median_deployment_days_per_week, deployment_frequency_band,
                   lead_time_changes, lead_time_median_hours, lead_time_band, failed_deployments,
                   change_failure_rate, change_failure_rate_band, incidents, recoveries, unrecovered_failures,
                   recovery_median_hours, recovery_band, rework_deployments, rework_rate
            FROM analytics_dora WHERE {where} AND bucket = 'period'
            ORDER BY team, environment""",
        "Bands by the 2023 DORA benchmarks (elite, high, medium, low); lead time, change failure rate, recovery "
        "and rework count production environments only.",
        order=[pl.col("production").not_(), "team", "environment"],
    )
    weekly = q.table(
        "dora_weekly",
        "DORA per team and environment, week by week",
        f"""SELECT service_namespace AS team, environment, production, bucket_start AS week_start,
                   bucket_end AS week_end, deployments, successful_deployments, deployments_per_day, deployment_days,
                   lead_time_median_hours, change_failure_rate, recovery_median_hours, rework_rate
            FROM analytics_dora WHERE {where} AND bucket = 'week'
            ORDER BY team, environment, week_start""",
        "Weeks run Monday to Monday (UTC); the first and last are clipped to the period.",
    )
    section.tables += [summary, weekly]
    frame = summary.frame
    if frame.is_empty():
        section.missing.append("No deployments or incidents in the period: the DORA tables are empty.")
        return section
    production = frame.filter(pl.col("production"))
    if production.is_empty():
        section.missing.append(
            "No production deployments: lead time, change failure rate, recovery and rework are not available."
        )
    else:
        for band_column, label in (
            ("deployment_frequency_band", "deployment frequency"),
            ("lead_time_band", "lead time"),
            ("change_failure_rate_band", "change failure rate"),
            ("recovery_band", "recovery time"),
        ):
            counts = production.group_by(band_column).len().drop_nulls(band_column)
            if counts.is_empty():
                continue
            by_band = dict(zip(counts[band_column], counts["len"], strict=True))
            text = ", ".join(f"{by_band[b]} {b}" for b in ("elite", "high", "medium", "low") if b in by_band)
            section.summary.append(f"Production team environments by {label} band: {text}.")
        if int(production["incidents"].sum()) == 0:
            section.missing.append(
                "No production incidents in the period: recovery comes from failed deployments only."
            )
    total = int(frame["deployments"].sum())
    section.summary.insert(0, f"{total:,} deployments by {_count(frame['team'].n_unique(), 'team')} in the period.")
    week = weekly.frame.filter(pl.col("production")) if production.height else weekly.frame
    where_label = "production" if production.height else "all environments"
    per_team = week.group_by("team", "week_start").agg(
        pl.col("deployments_per_day").sum(), pl.col("lead_time_median_hours").max()
    )
    section.charts.append(
        line_chart(
            "dora-weekly-deployments",
            f"Successful deployments per day, week by week ({where_label})",
            per_team,
            "week_start",
            "deployments_per_day",
            "team",
            "deployments per day",
        )
    )
    if production.height and per_team["lead_time_median_hours"].drop_nulls().len():
        section.charts.append(
            line_chart(
                "dora-weekly-lead-time",
                "Median lead time per week (production, hours)",
                per_team.drop_nulls("lead_time_median_hours"),
                "week_start",
                "lead_time_median_hours",
                "team",
                "hours",
            )
        )
    return section


def _adoption(q: _Query, period: Period, team: str | None) -> Section:
    section = Section("adoption", "Adoption and convergence", "adoption")
    versions = q.table(
        "adoption_versions",
        "Consumers per definition version at the period's end",
        f"""SELECT definition_id, version, active_version, is_active, consumers, share_of_consumers, share_on_active
            FROM analytics_adoption WHERE row_type = 'version' AND snapshot_at = {sql_time(period.end)}
            ORDER BY definition_id, version""",
        "Platform-wide: every consumer of every definition." if team else "",
        order=[pl.col("consumers").neg(), "definition_id", "version"],
    )
    app = f" AND app = {sql_string(team)}" if team else ""
    behind = q.table(
        "adoption_behind",
        "Consumers behind the active version",
        f"""SELECT app AS team, env, workload, resource, definition_id, version, active_version, source, since,
                   behind_since, behind_days
            FROM analytics_adoption WHERE row_type = 'consumer'{app}
            ORDER BY team, env, workload, resource""",
        order=[pl.col("behind_days").neg(), "team", "workload"],
    )
    pins = q.table(
        "adoption_pins",
        "Pins",
        f"""SELECT pin_id, app AS team, env, workload, resource, definition_id, version, pin_expires_at,
                   pin_expires_in_days, expiring_soon, pin_owner, pin_reason
            FROM analytics_adoption WHERE row_type = 'pin'{app} ORDER BY pin_expires_at, pin_id""",
    )
    trend, _ = q.frame(
        "adoption_trend",
        """SELECT snapshot_at, definition_id, max(share_on_active) AS share_on_active,
                  CAST(sum(consumers) AS BIGINT) AS consumers
           FROM analytics_adoption WHERE row_type = 'version' GROUP BY ALL ORDER BY snapshot_at, definition_id""",
    )
    section.tables += [versions, behind, pins]
    if versions.frame.is_empty():
        section.missing.append("No catalog consumers or activated versions: adoption is empty.")
        return section
    v = versions.frame
    consumers = int(v["consumers"].sum())
    on_active = int(v.filter(pl.col("is_active"))["consumers"].sum())
    share = f" ({on_active / consumers:.0%})" if consumers else ""
    section.summary.append(
        f"{consumers:,} consumers of {v['definition_id'].n_unique()} definitions at the period's end; "
        f"{on_active:,} on the active version{share}."
    )
    section.summary.append(
        f"{behind.frame.height:,} consumers behind the active version"
        + (f" (team {team})" if team else "")
        + f"; {pins.frame.filter(pl.col('expiring_soon')).height} of {pins.frame.height} pins expire soon."
    )
    trend = trend.drop_nulls("share_on_active").rename({"definition_id": "definition"})
    if trend.height:
        section.charts.append(
            line_chart(
                "adoption-share-on-active",
                "Share of consumers on the active version",
                trend,
                "snapshot_at",
                "share_on_active",
                "definition",
                "share",
                y_format=".0%",
            )
        )
    return section


def _demand(q: _Query, period: Period, team: str | None) -> Section:
    section = Section("demand", "Demand and misses", "demand")
    combos = f"level = 'team_combo' AND app = {sql_string(team)}" if team else "level = 'combo'"
    kinds = q.table(
        "demand_types",
        "Requests per resource type and class",
        f"""SELECT type, class, requests, resolved, misses, miss_share, default_requests, default_share,
                   consumers, environments, definitions, first_requested_at, last_requested_at, last_miss_reason
            FROM analytics_demand WHERE {combos} ORDER BY type, class""",
        "A request is one resolution: a binding when a definition matched, a miss when none did.",
        order=[pl.col("requests").neg(), "type", "class"],
    )
    teams = q.table(
        "demand_teams",
        "Requests per team",
        f"""SELECT app AS team, requests, resolved, misses, miss_share, default_requests, default_share, consumers,
                   environments, definitions, last_miss_reason
            FROM analytics_demand WHERE level = 'team'{f" AND app = {sql_string(team)}" if team else ""}
            ORDER BY team""",
        order=[pl.col("misses").neg(), "team"],
    )
    section.tables += [kinds, teams]
    k = kinds.frame
    if k.is_empty():
        section.missing.append("No catalog resolutions (bindings or misses) in the period: demand is empty.")
        return section
    requests, misses = int(k["requests"].sum()), int(k["misses"].sum())
    section.summary.append(
        f"{requests:,} requests for {k.select('type', 'class').n_unique()} type and class combinations; "
        f"{misses:,} misses ({misses / requests:.1%}), "
        f"{int(k['default_requests'].sum()):,} fell back to the default class."
    )
    missed = k.filter(pl.col("misses") > 0).sort("misses", descending=True)
    if missed.height:
        top = missed.row(0, named=True)
        section.summary.append(f"Most missed: {top['type']}/{top['class']} ({top['misses']:,} misses).")
    chart = k.with_columns(combination=pl.col("type") + "/" + pl.col("class")).select(
        "combination", "resolved", "misses"
    )
    section.charts.append(
        bar_chart(
            "demand-requests",
            "Requests per type and class: resolved and missed",
            chart,
            "combination",
            ["resolved", "misses"],
            "requests",
            fmt=",d",
        )
    )
    return section


def _utilization(q: _Query, period: Period, team: str | None) -> Section:
    section = Section("utilization", "Utilization and right-sizing", "utilization")
    where = f"WHERE team = {sql_string(team)}" if team else ""
    workloads = q.table(
        "utilization_workloads",
        "Usage against requests per workload and container",
        f"""SELECT team, workload, environment, container, resource, unit, pods, samples, usage_avg, usage_p95,
                   usage_max, request_avg, usage_to_request, idle_share, usage_hours, request_hours,
                   recommended_request, recommended_change
            FROM analytics_utilization {where}
            ORDER BY team, workload, environment, container, resource""",
        "CPU in cores, memory in bytes. Recommended request = p95 usage x headroom; a negative change means the "
        "request can shrink. Shown: the largest CPU reductions first.",
        order=[pl.col("resource") != "cpu", "recommended_change", "team", "workload"],
    )
    teams = q.table(
        "utilization_teams",
        "Usage against requests per team",
        f"""SELECT team, resource, unit, count(*) AS containers, sum(usage_hours) AS usage_hours,
                   sum(request_hours) AS request_hours,
                   sum(usage_hours) / nullif(sum(request_hours), 0) AS usage_to_request,
                   count(*) FILTER (WHERE request_avg IS NULL) AS without_request,
                   sum(recommended_change) FILTER (WHERE recommended_change < 0) AS reducible_request
            FROM analytics_utilization {where} GROUP BY ALL ORDER BY team, resource""",
        "Hours are core-hours or byte-hours over all replicas; reducible_request adds up the negative "
        "recommended changes (cores or bytes).",
        order=["resource", "usage_to_request"],
    )
    section.tables += [workloads, teams]
    w = workloads.frame
    if w.is_empty():
        section.missing.append(
            "No container CPU or memory metrics in the period: utilization and container cost are empty."
        )
        return section
    for resource, unit in (("cpu", "cores"), ("memory", "GiB")):
        rows = teams.frame.filter(pl.col("resource") == resource)
        if rows.is_empty():
            section.missing.append(f"No {resource} metrics in the period.")
            continue
        used, requested = float(rows["usage_hours"].sum()), float(rows["request_hours"].sum())
        ratio = f"{used / requested:.0%} of requests used" if requested else "no requests reported"
        reducible = float(rows["reducible_request"].sum() or 0.0)
        amount = reducible / (1 << 30) if resource == "memory" else reducible
        section.summary.append(
            f"{resource.upper()}: {w.filter(pl.col('resource') == resource).height:,} containers, {ratio}; "
            f"requests could shrink by {-amount:,.1f} {unit} in all."
        )
    no_request = w.filter(pl.col("request_avg").is_null())
    if no_request.height:
        section.missing.append(f"{no_request.height:,} workload containers report usage but no request.")
    cpu = teams.frame.filter(pl.col("resource") == "cpu").with_columns(
        used=pl.col("usage_hours"), unused=(pl.col("request_hours") - pl.col("usage_hours")).clip(lower_bound=0.0)
    )
    if cpu.height:
        section.charts.append(
            bar_chart(
                "utilization-cpu",
                "CPU core-hours per team: used and requested but unused",
                cpu.select("team", "used", "unused"),
                "team",
                ["used", "unused"],
                "core-hours",
            )
        )
    return section


def _cost(q: _Query, period: Period, team: str | None) -> Section:
    section = Section("cost", "Cost", "cost")
    where = f" AND team = {sql_string(team)}" if team else ""
    teams = q.table(
        "cost_teams",
        "Cost per team for the period",
        f"""SELECT team, currency, cpu_core_hours, memory_gib_hours, resource_hours, cpu_cost, memory_cost,
                   resource_cost, idle_cost, total_cost
            FROM analytics_cost WHERE level = 'team' AND bucket = 'period'{where} ORDER BY team""",
        "OpenCost-style: containers cost max(request, usage) x price; idle cost (requested, unused) is part of "
        "CPU and memory cost.",
        order=[pl.col("total_cost").neg(), "team"],
    )
    definitions = q.table(
        "cost_definitions",
        "Catalog resource cost per definition for the period",
        """SELECT definition_id, currency, resource_hours, resource_cost, total_cost
           FROM analytics_cost WHERE level = 'definition' AND bucket = 'period' ORDER BY definition_id""",
        "Platform-wide: every team's resources of each definition." if team else "",
        order=[pl.col("total_cost").neg(), "definition_id"],
    )
    daily = q.table(
        "cost_daily",
        "Cost per team and day",
        f"""SELECT team, bucket_start AS day, currency, cpu_cost, memory_cost, resource_cost, idle_cost, total_cost
            FROM analytics_cost WHERE level = 'team' AND bucket = 'day'{where} ORDER BY team, day""",
    )
    section.tables += [teams, definitions, daily]
    t = teams.frame
    if t.is_empty():
        section.missing.append("No cost: neither container metrics nor catalog resources in the period.")
        return section
    currency = t["currency"][0]
    total, idle = float(t["total_cost"].sum()), float(t["idle_cost"].sum())
    top = t.sort("total_cost", descending=True).row(0, named=True)
    section.summary.append(
        f"{total:,.2f} {currency} in all for {_count(t.height, 'team')}, of which {idle:,.2f} idle ({idle / total:.0%})"
        f"; the largest is {top['team']} ({top['total_cost']:,.2f} {currency})."
        if total
        else "Every cost is zero for the period."
    )
    if definitions.frame.height and definitions.frame["total_cost"].sum() == 0:
        section.missing.append("Catalog resources are priced at zero (see the price table).")
    parts = t.select(
        "team",
        cpu=pl.col("cpu_cost"),
        memory=pl.col("memory_cost"),
        resources=pl.col("resource_cost"),
    )
    section.charts.append(
        bar_chart("cost-teams", f"Cost per team ({currency})", parts, "team", ["cpu", "memory", "resources"], currency)
    )
    if daily.frame.height:
        section.charts.append(
            line_chart(
                "cost-daily", f"Cost per team and day ({currency})", daily.frame, "day", "total_cost", "team", currency
            )
        )
    return section


def _platform_health(q: _Query, period: Period, team: str | None) -> Section:
    section = Section("platform_health", "Platform health", "platform_health")
    legacy = q.table(
        "health_legacy",
        "Legacy against managed consumers over time",
        """SELECT snapshot_at, consumers, legacy_consumers, managed_consumers, legacy_share, legacy_definitions,
                  managed_definitions
           FROM analytics_platform_health WHERE row_type = 'legacy_share' ORDER BY snapshot_at""",
        "Platform-wide." if team else "",
    )
    types = q.table(
        "health_types",
        "Resource types by use",
        """SELECT usage_rank, type, consumers, requests, definitions
           FROM analytics_platform_health WHERE row_type = 'type' ORDER BY usage_rank""",
    )
    dead = q.table(
        "health_dead",
        "Dead inventory: no consumer for the dead-after period",
        """SELECT row_type AS kind, type, class, definition_id, version, legacy, consumers, last_used_at,
                  unused_since, idle_days
           FROM analytics_platform_health WHERE dead ORDER BY kind, type, class, definition_id, version""",
        order=[pl.col("idle_days").neg(), "kind", "definition_id"],
    )
    section.tables += [legacy, types, dead]
    if legacy.frame.is_empty() and types.frame.is_empty():
        section.missing.append("No catalog definitions or consumers: platform health is empty.")
        return section
    if legacy.frame.height:
        last = legacy.frame.row(-1, named=True)
        share = f"{last['legacy_share']:.0%}" if last["legacy_share"] is not None else "no consumers"
        section.summary.append(
            f"At the period's end: {last['consumers']:,} consumers, legacy share {share}; "
            f"{last['legacy_definitions']} legacy and {last['managed_definitions']} managed definitions."
        )
    kinds = dead.frame.group_by("kind").len().sort("kind")
    dead_text = ", ".join(f"{n} {k}s" for k, n in kinds.iter_rows()) or "nothing"
    section.summary.append(f"Dead inventory: {dead_text}.")
    if types.frame.height:
        most, least = types.frame.row(0, named=True), types.frame.row(-1, named=True)
        section.summary.append(
            f"Most used type: {most['type']} ({most['consumers']:,} consumers); "
            f"least used: {least['type']} ({least['consumers']:,})."
        )
    if legacy.frame.height:
        shares = legacy.frame.select("snapshot_at", "legacy_consumers", "managed_consumers").unpivot(
            index="snapshot_at", variable_name="kind", value_name="consumers"
        )
        body = {
            "mark": "area",
            "encoding": {
                "x": _time_axis("snapshot_at", "snapshot"),
                "y": {"field": "consumers", "type": "quantitative", "stack": "zero", "title": "consumers"},
                "color": {"field": "kind", "type": "nominal", "title": None},
                "tooltip": [
                    _time_axis("snapshot_at", "snapshot"),
                    {"field": "kind", "type": "nominal"},
                    {"field": "consumers", "type": "quantitative"},
                ],
            },
        }
        title = "Consumers on legacy and managed definitions"
        section.charts.append(Chart("health-legacy", title, _spec(title, shares, body)))
    return section


SECTIONS: list[Builder] = [_dora, _adoption, _demand, _utilization, _cost, _platform_health]
"""In the order of the jobs."""


# ---------------------------------------------------------------------------
# The whole report
# ---------------------------------------------------------------------------


def _coverage(q: _Query, period: Period) -> pl.DataFrame:
    rows = []
    for name, job in JOBS.items():
        row: dict[str, Any] = {
            "job": name,
            "table": job.table,
            "rows": None,
            "computed_from": None,
            "computed_to": None,
            "status": "missing",
        }
        if job.table in q.available:
            found = q.reader.sql(
                f"SELECT count(*) AS n, min(period_start) AS s, max(period_end) AS e FROM {job.table}"
            ).row(0)
            row.update(rows=int(found[0]), computed_from=found[1], computed_to=found[2])
            if found[0] == 0:
                row["status"] = "empty"
            elif found[1] == period.start and found[2] == period.end:
                row["status"] = "ok"
            else:
                row["status"] = "other period"
        rows.append(row)
    schema: dict[str, pl.DataType] = {
        "job": pl.String(),
        "table": pl.String(),
        "rows": pl.Int64(),
        "computed_from": pl.Datetime("us"),
        "computed_to": pl.Datetime("us"),
        "status": pl.String(),
    }
    return pl.DataFrame(rows, schema=schema)


_INPUTS = [
    ("deployments", "deployments", "finished_at", None),
    ("incidents", "incidents", "opened_at", None),
    ("metric points (gauges)", "otel_metrics_gauge", "time", None),
    ("metric points (sums)", "otel_metrics_sum", "time", None),
    ("catalog bindings", "catalog_bindings", "resolved_at", "tz"),
    ("catalog misses", "catalog_misses", "missed_at", "tz"),
]


def _inputs(q: _Query, period: Period, team: str | None) -> pl.DataFrame:
    parts = []
    for label, table, column, zone in _INPUTS:
        if table not in q.available:
            continue
        start, end = sql_time(period.start), sql_time(period.end)
        if zone:
            start, end = f"CAST({start} AS TIMESTAMPTZ)", f"CAST({end} AS TIMESTAMPTZ)"
        parts.append(
            f"SELECT {sql_string(label)} AS data, {sql_string(table)} AS source_table, count(*) AS rows "
            f"FROM {table} WHERE {column} >= {start} AND {column} < {end}"
        )
    if not parts:
        return pl.DataFrame(schema={"data": pl.String, "source_table": pl.String, "rows": pl.Int64})
    return q.reader.sql(" UNION ALL ".join(parts)).with_columns(pl.col("rows").cast(pl.Int64))


def _teams(sections: Iterable[Section]) -> list[str]:
    names: set[str] = set()
    for section in sections:
        for table in section.tables:
            if "team" in table.frame.columns:
                names.update(t for t in table.frame["team"].drop_nulls().to_list())
    return sorted(names)


def build_report(reader: Reader, period: Period, team: str | None = None, title: str | None = None) -> Report:
    """Read the analytics tables (already computed for ``period``) and assemble the report."""
    q = _Query(reader)
    coverage = _coverage(q, period)
    inputs = _inputs(q, period, team)
    sections = []
    missing: list[str] = []
    for builder, (name, job) in zip(SECTIONS, JOBS.items(), strict=True):
        if job.table not in q.available:
            section = Section(name, name, name, missing=[f"{job.table} does not exist: the {name} job never ran."])
            missing += section.missing
            sections.append(section)
            continue
        section = builder(q, period, team)
        sections.append(section)
        missing += section.missing
    empty_jobs = coverage.filter(pl.col("status") == "empty")["job"].to_list()
    if empty_jobs:
        missing.append(f"Jobs with empty results for the period: {', '.join(empty_jobs)}.")
    stale = coverage.filter(pl.col("status") == "other period")["job"].to_list()
    if stale:
        missing.append(f"Computed for another period than the report's: {', '.join(stale)}.")
    counts = dict(zip(inputs["data"], inputs["rows"], strict=True)) if inputs.height else {}
    if counts.get("deployments", 0) == 0:
        missing.insert(0, "No deployments in the period.")
    if counts.get("metric points (gauges)", 0) + counts.get("metric points (sums)", 0) == 0:
        missing.insert(0, "No metric points in the period (no utilization metrics).")
    if team:
        without = [s.title for s in sections if s.tables and all(t.frame.is_empty() for t in s.tables)]
        if without:
            missing.append(f"Team {team} has no rows in: {', '.join(without)}.")
    if q.truncated:
        missing.append(f"Tables cut at the query row limit ({reader.row_limit:,}): {', '.join(q.truncated)}.")
    teams = [team] if team else _teams(sections)
    return Report(
        title=title or ("Platform usage report" + (f": {team}" if team else "")),
        period=period,
        team=team,
        generated_at=datetime.now(UTC).replace(tzinfo=None, microsecond=0),
        source=reader.source,
        teams=teams,
        coverage=coverage,
        inputs=inputs,
        missing=missing,
        sections=sections,
    )


# ---------------------------------------------------------------------------
# Shared by the document formats
# ---------------------------------------------------------------------------

_PERCENT = ("_share", "_rate", "usage_to_request", "share_on_active", "share_of_consumers")


def format_value(column: str, value: Any) -> str:
    """A cell as a person reads it: shares as percentages, times to the minute, big numbers grouped."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return _moment(value) if value.second == 0 and value.microsecond == 0 else value.isoformat(sep=" ")
    if isinstance(value, float):
        if column.endswith(_PERCENT):
            return f"{value:.1%}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if value == int(value):
            return f"{int(value):,}"
        if abs(value) >= 10:
            return f"{value:,.1f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def display_rows(table: ReportTable) -> tuple[list[str], list[list[str]]]:
    frame = table.display
    columns = frame.columns
    rows = [[format_value(c, v) for c, v in zip(columns, row, strict=True)] for row in frame.iter_rows()]
    return columns, rows


__all__ = [
    "CHART_SERIES",
    "DISPLAY_ROWS",
    "Chart",
    "Reader",
    "Report",
    "ReportTable",
    "Section",
    "build_report",
    "display_rows",
    "format_value",
    "sql_string",
    "sql_time",
]
