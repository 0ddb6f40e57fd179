"""report/html.py: one self-contained file that a browser renders without errors and without a network."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from trellis.analytics.report import Report, write_report


def test_html_is_one_self_contained_file_that_a_browser_renders_without_errors(report: Report, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert write_report(report, "html", out) == [out]
    html = out.read_text()
    assert all("src=" not in tag for tag in re.findall(r"<script[^>]*>", html)), "a script is loaded"
    markup = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)
    assert not re.search(r"<(link|img|iframe)[^>]+(src|href)=", markup), "the page loads something"
    assert "window.vegaEmbed" in html and "Delivery performance (DORA)" in html
    charts = re.findall(r'<div class="chart" id="chart-([\w-]+)"', html)
    assert len(charts) == len(report.charts()) >= 8
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the page was not opened in a browser")
    # Record what the page logs as an error, then let a real headless Chromium run it with no network.
    probe = (
        "<script>(()=>{window.__errors=[];const e=console.error.bind(console);"
        "console.error=(...a)=>{window.__errors.push(a.join(' '));e(...a)};"
        "console.warn=(...a)=>{window.__errors.push('warn: '+a.join(' '))};"
        "window.addEventListener('error',(v)=>window.__errors.push(String(v.message)));"
        "window.addEventListener('unhandledrejection',(v)=>window.__errors.push(String(v.reason)));"
        "window.addEventListener('load',()=>setTimeout(()=>{const p=document.createElement('pre');"
        "p.id='console-errors';p.textContent=JSON.stringify(window.__errors);document.body.append(p)},1500));"
        "})()</script>"
    )
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("<head>", "<head>" + probe, 1))
    done = subprocess.run(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--virtual-time-budget=20000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    dom = done.stdout
    found = re.search(r'<pre id="console-errors">(.*?)</pre>', dom, flags=re.S)
    assert found, f"the page did not finish loading:\n{done.stderr[-2000:]}"
    assert json.loads(found.group(1).replace("&quot;", '"')) == []
    rendered = re.findall(r'id="chart-([\w-]+)"[^>]*>.*?<svg[^>]*class="marks"', dom, flags=re.S)
    assert sorted(set(rendered)) == sorted(charts)
