"""Importing legacy resources described in a CSV file: the layout and its reader.

One row describes one resource as a legacy static definition. The same few
columns serve every built-in type; ``TYPE_COLUMNS`` says which output each
column fills for each type (``name`` is a database, a bucket, a topic or a
namespace). Errors name the file, the line and the column, and never repeat
what was written in ``secret_ref``, which could be a password typed into the
wrong place. docs/legacy-import.md describes the layout for people.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from trellis.catalog.builtin_types import BUILTIN_TYPES
from trellis.catalog.documents import describe_validation
from trellis.catalog.drivers import DRIVERS, DriverError, is_secret_reference
from trellis.catalog.importers.apply import ImportReport, apply_import
from trellis.catalog.importers.errors import LegacyImportError
from trellis.catalog.importers.results import ImportResult, normalize_file
from trellis.catalog.matching import CRITERIA_FIELDS
from trellis.catalog.models import API_VERSION, ID_PATTERN, Criterion, ResourceDefinition

if TYPE_CHECKING:
    from trellis.catalog.service import Catalog

SOURCE = "csv"
"""The importer's name, and ``spec.provenance.source`` of every definition it makes."""

COLUMNS: dict[str, str] = {
    "id": "Definition id: lowercase letters, digits, '.', '_' and '-', at most 63 characters. Required.",
    "type": "Built-in resource type. Required.",
    "description": "What the resource is, for people.",
    "class": "Criterion: resource class (default when empty and another criterion column is set).",
    "env_type": "Criterion: environment type, such as production.",
    "app_id": "Criterion: application id.",
    "env_id": "Criterion: environment id.",
    "res_id": "Criterion: resource id, such as shared.orders-db or checkout.db.",
    "host": "Host name; for kafka-topic the brokers (host:port,host:port); for s3 the endpoint URL.",
    "port": "Port number.",
    "name": "Database name; for s3 the bucket, for kafka-topic the topic, for k8s-namespace the namespace.",
    "username": "User name; for s3 the access key id (a ${secret:...} reference is fine).",
    "secret_ref": "Reference to the secret output, such as ${secret:vault/path#password}. Never the secret itself.",
    "region": "Region (s3).",
    "params": "Parameters as key=value pairs separated by ';', such as version=14;backup_retention_days=7.",
}
"""Every column the layout knows, in the documented order; only id and type are required."""

REQUIRED_COLUMNS = ("id", "type")
CRITERIA_COLUMNS = ("class", *CRITERIA_FIELDS)


@dataclass(frozen=True)
class Use:
    """One output of a type and the column that fills it."""

    column: str
    required: bool = True


TYPE_COLUMNS: dict[str, dict[str, Use]] = {
    "postgres": {
        "host": Use("host"),
        "port": Use("port"),
        "name": Use("name"),
        "username": Use("username"),
        "password": Use("secret_ref"),
    },
    "mysql": {
        "host": Use("host"),
        "port": Use("port"),
        "name": Use("name"),
        "username": Use("username"),
        "password": Use("secret_ref"),
    },
    "redis": {"host": Use("host"), "port": Use("port"), "password": Use("secret_ref")},
    "s3": {
        "bucket": Use("name"),
        "region": Use("region"),
        "endpoint": Use("host", required=False),
        "aws_access_key_id": Use("username"),
        "aws_secret_access_key": Use("secret_ref"),
    },
    "dns": {"host": Use("host")},
    "kafka-topic": {
        "brokers": Use("host"),
        "topic": Use("name"),
        "username": Use("username"),
        "password": Use("secret_ref"),
    },
    "k8s-namespace": {"namespace": Use("name")},
}
"""Built-in type -> output -> the column it comes from. A column a type does not use must stay empty.

s3 without ``host`` gets the AWS endpoint of its region, ``https://s3.<region>.amazonaws.com``.
"""

_VALUE_COLUMNS = ("host", "port", "name", "username", "secret_ref", "region")
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


class CsvImportError(LegacyImportError):
    """A CSV file that cannot be imported; names the file, the line and the column."""


@dataclass
class _Row:
    line: int
    cells: dict[str, str]
    file: str

    def error(self, column: str | None, problem: str) -> CsvImportError:
        where = f"line {self.line}, column {column}" if column else f"line {self.line}"
        return CsvImportError(self.file, problem, where)

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


def read_csv(path: str | os.PathLike[str]) -> ImportResult:
    """Read a CSV file in the layout of ``COLUMNS``; raises ``CsvImportError`` naming file, line and column."""
    file = normalize_file(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise CsvImportError(file, "no such file") from None
    except IsADirectoryError:
        raise CsvImportError(file, "is a folder, not a CSV file") from None
    except OSError as exc:
        raise CsvImportError(file, f"cannot read: {exc.strerror}") from None
    return parse_csv_text(raw, file)


def parse_csv_text(text: str | bytes, file: str) -> ImportResult:
    """Like ``read_csv`` for content already in memory (an upload); ``file`` names it in messages."""
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise CsvImportError(file, "is not UTF-8 text (save it as CSV UTF-8)", f"line {line}") from None
    text = text.removeprefix("\ufeff")
    rows = _rows(text, file)
    result = ImportResult(SOURCE, file)
    first_line: dict[str, int] = {}
    criteria_lines: dict[tuple[str, tuple[str | None, ...]], int] = {}
    for row in rows:
        document, has_criteria = _definition(row)
        definition_id = document.metadata.id
        if definition_id in first_line:
            raise row.error("id", f"{definition_id} is already on line {first_line[definition_id]}")
        first_line[definition_id] = row.line
        for rule in document.spec.criteria:
            key = (document.spec.type, rule.key())
            if key in criteria_lines:
                raise row.error(
                    ", ".join(CRITERIA_COLUMNS),
                    f"criteria {rule.describe()} are the same as on line {criteria_lines[key]} for type "
                    f"{document.spec.type}; both could win the same context",
                )
            criteria_lines[key] = row.line
        result.definitions.append(document)
        result.locations[definition_id] = f"line {row.line}"
        if has_criteria:
            result.criteria_from_source.add(definition_id)
    return result


def _rows(text: str, file: str) -> list[_Row]:
    """The rows under the header, with the line each starts on; blank rows and rows starting with # are left out."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[_Row] = []
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise CsvImportError(file, f"is not valid CSV: {exc}", f"line {line}") from None
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = _header(cells, start, file)
            continue
        if len(cells) > len(header):
            raise CsvImportError(
                file, f"has {len(cells)} cells but the header has {len(header)} columns", f"line {start}"
            )
        values = {name: cells[i].strip() if i < len(cells) else "" for i, name in enumerate(header)}
        rows.append(_Row(start, values, file))
    if header is None:
        raise CsvImportError(file, f"is empty; expected a header line such as {','.join(COLUMNS)}")
    return rows


def _header(cells: list[str], line: int, file: str) -> list[str]:
    names = [c.strip().lower() for c in cells]
    where = f"line {line}"
    for i, name in enumerate(names):
        if not name:
            raise CsvImportError(file, f"column {i + 1} of the header has no name", where)
        if name not in COLUMNS:
            raise CsvImportError(file, f"unknown column {name}; the columns are {', '.join(COLUMNS)}", where)
        if names.index(name) != i:
            raise CsvImportError(file, f"column {name} appears twice in the header", where)
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise CsvImportError(file, f"the header has no {' and no '.join(missing)} column", where)
    return names


def _definition(row: _Row) -> tuple[ResourceDefinition, bool]:
    """One row as a definition, and whether the row sets its criteria."""
    definition_id = row.get("id")
    if not definition_id:
        raise row.error("id", "is empty; every row needs an id")
    if not re.match(ID_PATTERN, definition_id):
        raise row.error(
            "id",
            f"{definition_id!r} is not a valid id: lowercase letters, digits, '.', '_' and '-', "
            "starting and ending with a letter or digit, at most 63 characters",
        )
    type_ = row.get("type")
    if type_ not in TYPE_COLUMNS:
        shown = repr(type_) if type_ else "(empty)"
        raise row.error("type", f"type {shown} is not a built-in type; one of {', '.join(TYPE_COLUMNS)}")
    outputs = _outputs(row, type_)
    params = _params(row, type_)
    criteria = _criteria(row)
    document = ResourceDefinition.model_validate(
        {
            "apiVersion": API_VERSION,
            "kind": "ResourceDefinition",
            "metadata": {"id": definition_id, "description": row.get("description") or f"Legacy {type_} (CSV import)"},
            "spec": {
                "type": type_,
                "driver": "static",
                "params": params,
                "outputs": outputs,
                "criteria": [c.model_dump(by_alias=True, exclude_none=True) for c in criteria],
                "legacy": True,
                "provenance": {"source": SOURCE, "file": row.file},
            },
        }
    )
    try:
        DRIVERS["static"].check(document.spec, BUILTIN_TYPES[type_])
    except DriverError as exc:  # the layout and the built-in types disagree: a bug, but say where
        raise row.error(None, f"not a valid {type_} definition: {exc}") from None
    return document, bool(criteria)


def _outputs(row: _Row, type_: str) -> dict[str, Any]:
    uses = TYPE_COLUMNS[type_]
    used = {use.column for use in uses.values()}
    for column in _VALUE_COLUMNS:
        if row.get(column) and column not in used:
            raise row.error(column, f"is not used by type {type_}; leave it empty (see docs/legacy-import.md)")
    rtype = BUILTIN_TYPES[type_]
    outputs: dict[str, Any] = {}
    for output, use in uses.items():
        value = row.get(use.column)
        if not value:
            if use.required:
                raise row.error(use.column, f"is empty; type {type_} needs it for output {output}")
            continue
        if rtype.outputs[output].secret and not is_secret_reference(value):
            raise row.error(
                use.column,
                "must be a reference such as ${secret:vault/path#key}, never the secret itself "
                "(the value is not shown here in case it is one)",
            )
        outputs[output] = _port(row, value) if use.column == "port" else value
    if type_ == "s3" and "endpoint" not in outputs:
        outputs["endpoint"] = f"https://s3.{outputs['region']}.amazonaws.com"
    return outputs


def _port(row: _Row, value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise row.error("port", f"{value!r} is not a port number (1-65535)")
    return int(value)


def _params(row: _Row, type_: str) -> dict[str, Any]:
    properties: dict[str, Any] = BUILTIN_TYPES[type_].params_schema.get("properties", {})
    params: dict[str, Any] = {}
    for pair in (p.strip() for p in row.get("params").split(";")):
        if not pair:
            continue
        key, sep, value = (part.strip() for part in pair.partition("="))
        if not sep or not key:
            raise row.error("params", f"{pair!r} is not key=value; separate pairs with ';'")
        if key not in properties:
            raise row.error("params", f"type {type_} has no parameter {key}; it has {', '.join(properties)}")
        if key in params:
            raise row.error("params", f"parameter {key} is given twice")
        params[key] = _param_value(row, key, value, properties[key])
    region = row.get("region")
    if region and "region" in properties and params.setdefault("region", region) != region:
        raise row.error("params", f"region={params['region']} disagrees with column region ({region})")
    return params


def _param_value(row: _Row, key: str, value: str, schema: dict[str, Any]) -> Any:
    declared = schema.get("type")
    if declared == "integer":
        if not value.isdigit() or int(value) < schema.get("minimum", 0):
            raise row.error("params", f"parameter {key} must be a whole number of at least 0, not {value!r}")
        return int(value)
    if declared == "boolean":
        if value.lower() not in (*_TRUE, *_FALSE):
            raise row.error("params", f"parameter {key} must be true or false, not {value!r}")
        return value.lower() in _TRUE
    if not value:
        raise row.error("params", f"parameter {key} is empty")
    return value


def _criteria(row: _Row) -> list[Criterion]:
    values = {column: row.get(column) or None for column in CRITERIA_COLUMNS}
    if not any(values.values()):
        return []
    try:
        return [Criterion.model_validate({**values, "class": values["class"] or "default"})]
    except ValidationError as exc:
        raise row.error(", ".join(CRITERIA_COLUMNS), describe_validation(exc)) from None


def import_csv(catalog: Catalog, path: str | os.PathLike[str], actor: str, dry_run: bool = False) -> ImportReport:
    """Read a CSV file and apply its definitions in one transaction.

    A row that fills a criteria column sets the definition's criteria (one rule); a row that
    leaves them all empty keeps the criteria the definition has in the catalog (none for a new
    one). With ``dry_run`` the report says what would change and nothing does.
    """
    return apply_import(catalog, read_csv(path), actor, dry_run)


class CsvImporter:
    """The ``csv`` format: one resource per row, in the layout of ``COLUMNS``; it has no namespaces."""

    name = SOURCE
    reads = "a CSV file in the layout of docs/legacy-import.md"

    def read(self, text: str | bytes, file: str, *, namespace: str | None = None) -> ImportResult:
        """``parse_csv_text``; a namespace is ignored, since CSV ids are written out in the file."""
        return parse_csv_text(text, file)


__all__ = [
    "COLUMNS",
    "TYPE_COLUMNS",
    "CsvImportError",
    "CsvImporter",
    "import_csv",
    "parse_csv_text",
    "read_csv",
]
