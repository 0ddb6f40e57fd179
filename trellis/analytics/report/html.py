"""The report as one self-contained HTML file: tables, and charts drawn by vega-embed from inline specs.

Vega, Vega-Lite and Vega-Embed are inlined (``chart_rendering.javascript_bundle``), the styles too; the page
loads nothing, so it opens offline, from a mail attachment or a wiki upload alike.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from trellis.analytics.report.chart_rendering import javascript_bundle, library_versions
from trellis.analytics.report.model import Report, ReportTable
from trellis.analytics.report.values import display_rows

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Trellis analytics report">
<title>{{ report.title }}</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1200px;
         padding: 0 1rem; color: #1f2328; line-height: 1.45; }
  h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2rem; margin-top: 2.5rem; }
  h3 { margin-top: 1.5rem; }
  .meta { color: #57606a; }
  .missing { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: .5rem 1rem; }
  table { border-collapse: collapse; font-size: .82rem; margin: .5rem 0; display: block; overflow-x: auto; }
  th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: right; white-space: nowrap; }
  th { background: #f6f8fa; position: sticky; top: 0; }
  td.text, th.text { text-align: left; }
  .note { color: #57606a; font-size: .85rem; }
  .chart { margin: 1rem 0; }
  nav a { margin-right: 1rem; }
</style>
<script>{{ bundle }}</script>
</head>
<body>
<h1>{{ report.title }}</h1>
<p class="meta">{{ report.period_label }} &middot; {{ team_label }} &middot; source: {{ report.source }}
 &middot; generated {{ report.generated_at.isoformat(sep=" ") }} UTC</p>
<nav>{% for s in report.sections %}<a href="#{{ s.key }}">{{ s.title }}</a>{% endfor %}
<a href="#about">About the data</a></nav>
{% if report.missing %}
<div class="missing" id="missing"><strong>Missing data</strong><ul>
{% for m in report.missing %}<li>{{ m }}</li>{% endfor %}
</ul></div>
{% endif %}
{% for s in report.sections %}
<section id="{{ s.key }}">
<h2>{{ s.title }}</h2>
{% if s.summary %}<ul>{% for line in s.summary %}<li>{{ line }}</li>{% endfor %}</ul>{% endif %}
{% if s.missing %}<div class="missing"><ul>{% for m in s.missing %}<li>{{ m }}</li>{% endfor %}</ul></div>{% endif %}
{% for c in s.charts %}<div class="chart" id="chart-{{ c.name }}" role="img" aria-label="{{ c.title }}"></div>
{% endfor %}
{% for t in s.tables %}{{ table(t) }}{% endfor %}
</section>
{% endfor %}
<section id="about">
<h2>About the data</h2>
{% for t in about %}{{ table(t) }}{% endfor %}
<p class="note">Charts: Vega {{ versions["vega"] }}, Vega-Lite {{ versions["vega-lite"] }},
Vega-Embed {{ versions["vega-embed"] }}, inlined in this file.</p>
</section>
<script>
const trellisCharts = {{ charts }};
const trellisErrors = [];
for (const [name, spec] of Object.entries(trellisCharts)) {
  vegaEmbed("#chart-" + name, spec, {renderer: "svg",
    actions: {export: true, source: true, compiled: false, editor: false}})
    .catch((error) => { trellisErrors.push(name + ": " + error); console.error(error); });
}
</script>
</body>
</html>
"""


def _table_html(table: ReportTable) -> str:
    columns, rows = display_rows(table)
    frame = table.display
    text = {c for c, dtype in zip(frame.columns, frame.dtypes, strict=True) if not dtype.is_numeric()}
    esc = escape
    head = "".join(f'<th class="{"text" if c in text else "num"}">{esc(c)}</th>' for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"text" if c in text else "num"}">{esc(v)}</td>' for c, v in zip(columns, r, strict=True)
        )
        + "</tr>"
        for r in rows
    )
    parts = [f'<h3 id="table-{esc(table.name)}">{esc(table.title)}</h3>']
    if table.description:
        parts.append(f'<p class="note">{esc(table.description)}</p>')
    if not rows:
        parts.append('<p class="note">No rows.</p>')
    else:
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    if table.display_note:
        parts.append(f'<p class="note">{esc(table.display_note)} (table <code>{esc(table.name)}</code>).</p>')
    return "\n".join(parts)


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/").replace("<!--", "<\\!--")


def render_html(report: Report) -> str:
    env = jinja2.Environment(autoescape=True)
    template = env.from_string(_TEMPLATE)
    about = report.tables()[:3]
    return template.render(
        report=report,
        team_label=report.scope_label,
        bundle=Markup(javascript_bundle()),
        charts=Markup(_script_json({c.name: c.spec for c in report.charts()})),
        table=lambda t: Markup(_table_html(t)),
        about=about,
        versions=library_versions(),
    )


def write_html(report: Report, out: Path) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    return [out]


__all__ = ["render_html", "write_html"]
