"""The blast radius as lines of text, for ``trellis resources plan`` and ``approve``."""

from __future__ import annotations

from typing import Any


def plan_lines(answer: dict[str, Any]) -> list[str]:
    """A headline with the counts, a line per consumer, then the moves already pending from other changes."""
    consumers, pending, counts = answer["consumers"], answer["pending"], answer["summary"]
    lines = [headline(counts)]
    lines += [f"  {_where(c)}: {_change(c)}" for c in consumers]
    if pending:
        lines.append(f"already pending from other changes, not from this one ({len(pending)}):")
        lines += [
            f"  {_where(p)}: recorded {p['recorded_definition']}@{p['recorded_version']}, "
            f"resolves to {_version(p['definition'], p['version'])} today"
            for p in pending
        ]
    return lines


def headline(counts: dict[str, int]) -> str:
    if not counts["consumers"]:
        return "no consumer's binding changes"
    moves = f", {counts['moves']} of them to another definition or to none" if counts["moves"] else ""
    teams = f" of {_count(counts['teams'], 'team')}" if counts.get("teams") else ""
    one = counts["consumers"] == 1
    return (
        f"{_count(counts['consumers'], 'consumer')} in {_count(counts['apps'], 'app')}{teams} and "
        f"{_count(counts['environments'], 'environment')} {'changes' if one else 'change'} at "
        f"{'its' if one else 'their'} next deployment{moves}"
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _where(item: dict[str, Any]) -> str:
    return f"{item['app']}/{item['env']}/{item['workload']}.{item['resource']}"


def _version(definition: str | None, version: int | None) -> str:
    if definition is None:
        return "nothing"
    return f"{definition}@{version}" if version is not None else f"{definition} (proposed)"


def _change(c: dict[str, Any]) -> str:
    before = _version(c["definition_before"], c["version_before"])
    if c["change"] in ("moves", "unmatched"):
        return f"moves from {before} to {_version(c['definition_after'], c['version_after'])}"
    if c["change"] == "error":
        return f"{before}: {c['error']}"
    parts = [f"{part} {diff_text(c[part])}" for part in ("params", "outputs") if c[part]]
    if c["driver"]:
        parts.append(f"driver {c['driver']['before']} -> {c['driver']['after']}")
    return f"{before} changes: " + "; ".join(parts)


def diff_text(diff: dict[str, Any]) -> str:
    return ", ".join(f"{key}: {change['before']!r} -> {change['after']!r}" for key, change in diff.items())


__all__ = ["diff_text", "headline", "plan_lines"]
