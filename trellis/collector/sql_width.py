"""How wide one value a query builds may be: calls whose size is an argument are checked before the
query runs.

DuckDB computes an answer a vector (up to 2,048 rows) at a time, so ``repeat('x', 1000000)`` over a
thousand rows holds a gigabyte before the first row could be counted against the byte limit, and
DuckDB's memory limit does not count it. The calls that build a value larger than their inputs by a
size given as an argument (``repeat``, ``lpad``, ``rpad``, ``list_resize``, ``array_resize``, ``bar``,
the list forms of ``range`` and ``generate_series``, and the widths in ``printf`` and ``format``) are
allowed when that size is a number written in the query, and when all the sized calls of one query
build at most ``MAX_VALUE_WIDTH`` characters or list elements in all (so that concatenating many of
them does not get around the limit). Aggregates that gather many rows into one value (``list``,
``string_agg``) are bounded by DuckDB's memory limit, which refuses them with "Out of Memory".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

MAX_VALUE_WIDTH = 16_384
"""The most characters (or list elements) the sized calls of one query may build, together, per row."""

COPIES_OF_READ_VALUES = 64
"""The most copies ``repeat`` may make of a value that is not written in the query (read from a table)."""

READ_VALUE_WIDTH = MAX_VALUE_WIDTH // COPIES_OF_READ_VALUES
"""What one copy of a value read from a table counts against MAX_VALUE_WIDTH."""


class WidthRefused(ValueError):
    """A call could build values too wide to hold; the message names it and says what is allowed."""


def check_widths(tree: Any) -> None:
    """Raise WidthRefused for a sized call in the parsed statement ``tree`` that is too wide, or when
    the sized calls together would build more than MAX_VALUE_WIDTH per row."""
    total, names = 0, []
    for call in _calls(tree):
        name = str(call["function_name"])
        rule = _RULES.get(name.lower())
        if rule is not None:
            total += rule(name, [a.get("expression") for a in call.get("arguments", [])])
            names.append(f"{name}()")
    if total > MAX_VALUE_WIDTH:
        calls = ", ".join(dict.fromkeys(names))
        raise WidthRefused(
            f"the sized calls of this query ({calls}) would build {total:,} characters or elements per row, "
            f"more than the {MAX_VALUE_WIDTH:,} a query may"
        )


def _calls(node: Any) -> Iterator[dict[str, Any]]:
    """Every scalar call in the tree (table functions in FROM stream rows, and are not sized calls)."""
    if isinstance(node, list):
        for value in node:
            yield from _calls(value)
    elif isinstance(node, dict):
        if node.get("type") == "TABLE_FUNCTION":
            yield from _calls([v for k, v in node.items() if k != "function"])
            function = node.get("function")
            if isinstance(function, dict):
                yield from _calls(function.get("arguments", []))
            return
        if node.get("class") == "FUNCTION" and isinstance(node.get("function_name"), str):
            yield node
        for value in node.values():
            yield from _calls(value)


def _literal(node: Any) -> Any:
    """The value of a number or text written in the query (also cast or negated), else None."""
    if not isinstance(node, dict):
        return None
    if node.get("class") == "CONSTANT":
        literal = node.get("literal", {})
        text = literal.get("text")
        if literal.get("kind") in ("STRING", "BLOB"):
            return text
        try:
            return int(text)
        except (TypeError, ValueError):
            return None
    if node.get("class") == "CAST":
        return _literal(node.get("child"))
    if node.get("function_name") == "-" and len(node.get("arguments", [])) == 1:
        value = _literal(node["arguments"][0].get("expression"))
        return -value if isinstance(value, int) else None
    return None


def _size(name: str, args: list[Any], index: int, what: str) -> int:
    """The size argument at ``index``: a whole number written in the query, at most MAX_VALUE_WIDTH."""
    value = _literal(args[index]) if index < len(args) else None
    if not isinstance(value, int):
        raise WidthRefused(f"{name}(): the {what} must be a number written in the query (at most {MAX_VALUE_WIDTH:,})")
    if value > MAX_VALUE_WIDTH:
        raise WidthRefused(f"{name}(): {what} {value:,} is more than the {MAX_VALUE_WIDTH:,} one value may hold")
    return value


def _repeat(name: str, args: list[Any]) -> int:
    copies = _size(name, args, 1, "count")
    value = _literal(args[0]) if args else None
    if isinstance(value, str) and copies * len(value) > MAX_VALUE_WIDTH:
        raise WidthRefused(
            f"{name}(): {copies:,} copies of {len(value):,} characters are more than the "
            f"{MAX_VALUE_WIDTH:,} one value may hold"
        )
    if value is None and copies > COPIES_OF_READ_VALUES:
        raise WidthRefused(
            f"{name}(): at most {COPIES_OF_READ_VALUES} copies of a value read from a table, not {copies:,}"
        )
    return copies * (len(value) if isinstance(value, str) else READ_VALUE_WIDTH)


def _second(what: str) -> Callable[[str, list[Any]], int]:
    def rule(name: str, args: list[Any]) -> int:
        return _size(name, args, 1, what)

    return rule


def _bar(name: str, args: list[Any]) -> int:
    return _size(name, args, 3, "width") if len(args) > 3 else 80


def _series(name: str, args: list[Any]) -> int:
    """range(stop), range(start, stop[, step]) as a list: whole numbers written in the query only."""
    values = [_literal(a) for a in args]
    if not values or not all(isinstance(v, int) for v in values):
        raise WidthRefused(
            f"{name}() as a list takes whole numbers written in the query; "
            f"for times or other bounds use the table function: FROM {name}(...)"
        )
    start, stop, step = (
        (0, values[0], 1) if len(values) == 1 else (values[0], values[1], values[2] if len(values) > 2 else 1)
    )
    elements = 0 if step == 0 else max(0, (stop - start) // step)
    if elements > MAX_VALUE_WIDTH:
        raise WidthRefused(
            f"{name}() would build a list of {elements:,} elements, more than {MAX_VALUE_WIDTH:,}; "
            f"FROM {name}(...) returns them as rows"
        )
    return elements


_PRINTF_SPEC = re.compile(r"%[-+ #0]*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_FIELD = re.compile(r"\{([^{}]*)(\{)?")


def _formatted(name: str, args: list[Any]) -> int:
    """printf / format: a format written in the query, with widths and precisions up to MAX_VALUE_WIDTH."""
    text = _literal(args[0]) if args else None
    if not isinstance(text, str):
        raise WidthRefused(f"{name}(): the format must be text written in the query")
    widths = [w for spec in _PRINTF_SPEC.findall(text) for w in spec if w] if name.lower() == "printf" else []
    for field, nested in _FORMAT_FIELD.findall(text) if name.lower() == "format" else []:
        if nested:
            widths.append("*")
        widths += re.findall(r"\d+", field.partition(":")[2])
    if "*" in widths:
        raise WidthRefused(f"{name}(): widths must be written in the format, not taken from an argument")
    if any(int(w) > MAX_VALUE_WIDTH for w in widths):
        raise WidthRefused(f"{name}(): a width over {MAX_VALUE_WIDTH:,} in {text!r}")
    return sum(int(w) for w in widths)


_RULES: dict[str, Callable[[str, list[Any]], int]] = {
    "repeat": _repeat,
    "lpad": _second("length"),
    "rpad": _second("length"),
    "list_resize": _second("size"),
    "array_resize": _second("size"),
    "bar": _bar,
    "range": _series,
    "generate_series": _series,
    "printf": _formatted,
    "format": _formatted,
}

__all__ = ["COPIES_OF_READ_VALUES", "MAX_VALUE_WIDTH", "WidthRefused", "check_widths"]
