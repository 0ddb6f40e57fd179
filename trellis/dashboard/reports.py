"""Reports from the dashboard: the same report ``trellis report`` writes, built by ``trellis.analytics.report``.

``available()`` says whether those modules are installed; ``generate`` builds one report per team (or one
for the whole platform) through the collector's API and returns one file to download (a zip when a
format writes several files, or several teams are asked for).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

SUFFIXES = {"html": ".html", "md": ".md", "pdf": ".pdf", "csv": ".zip", "parquet": ".zip", "xlsx": ".xlsx"}
MIME = {".html": "text/html", ".md": "text/markdown", ".pdf": "application/pdf", ".zip": "application/zip",
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}  # fmt: skip


@dataclass(frozen=True)
class ReportFile:
    name: str
    mime: str
    content: bytes
    missing: tuple[str, ...] = ()


def available() -> tuple[str, ...] | None:
    """The formats ``trellis.analytics.report`` offers, or None when the report modules are not there."""
    try:
        from trellis.analytics.report import FORMATS, ApiReader, make_report  # noqa: F401
    except ImportError:
        return None
    return tuple(FORMATS)


def cli_command(start: datetime, end: datetime, teams: list[str], fmt: str, envs: tuple[str, ...] = ()) -> str:
    """The ``trellis report`` command that writes the same report."""
    team = f" --team {teams[0]}" if len(teams) == 1 else ""
    env = "".join(f" --env {e}" for e in envs)
    out = f"report{SUFFIXES.get(fmt, '.' + fmt)}"
    return f"trellis report --from {start:%Y-%m-%d} --to {end:%Y-%m-%d}{team}{env} --format {fmt} --out {out}"


def generate(
    api: str, token: str | None, start: datetime, end: datetime, teams: list[str], fmt: str,
    progress: Callable[[str], None], envs: tuple[str, ...] = (),
) -> ReportFile:  # fmt: skip
    """Build and write the report(s) for the period; one file to download."""
    from trellis.analytics import Period
    from trellis.analytics.report import ApiReader, make_report, write_report
    from trellis.collector.client import Client

    period = Period(start, end)
    stem = f"trellis-report-{start:%Y-%m-%d}-{end:%Y-%m-%d}"
    reader = ApiReader(Client(url=api, token=token, timeout=3600))
    missing: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="trellis-report-") as tmp:
            written: list[Path] = []
            chosen: list[str | None] = list(teams) or [None]
            for team in chosen:
                name = f"{stem}-{team}" if team else stem
                built = make_report(reader, period, team, progress, envs)
                missing += [f"{team}: {m}" if team else m for m in built.missing]
                progress(f"writing {fmt}" + (f" for {team}" if team else ""))
                written += write_report(built, fmt, Path(tmp) / f"{name}{SUFFIXES.get(fmt, '.' + fmt)}")
            return _bundle(Path(tmp), written, stem, tuple(missing))
    finally:
        reader.close()


def _bundle(root: Path, written: list[Path], stem: str, missing: tuple[str, ...]) -> ReportFile:
    files = [p for p in written if p.is_file()] or [p for p in root.rglob("*") if p.is_file()]
    if len(files) == 1:
        path = files[0]
        return ReportFile(path.name, MIME.get(path.suffix, "application/octet-stream"), path.read_bytes(), missing)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root))
    return ReportFile(f"{stem}.zip", "application/zip", buffer.getvalue(), missing)


__all__ = ["ReportFile", "available", "cli_command", "generate"]
