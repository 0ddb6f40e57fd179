"""The documentation in docs/ stays in step with the code."""

import re
from pathlib import Path

import httpx
import pytest

from trellis.collector.schema import PROJECTION_DDL, RESOURCES_SCHEMA, RESOURCES_TABLE, TABLES, WEBHOOK_DDL
from trellis.settings import Settings
from trellis.testing import RunningCollector

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_documented_with_flag_variable_and_default() -> None:
    text = (DOCS / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        row = next((line for line in text.splitlines() if f"`TRELLIS_{name.upper()}`" in line), None)
        assert row is not None, f"TRELLIS_{name.upper()} is not in docs/configuration.md"
        assert f"`--{name.replace('_', '-')}`" in row
        default = "(none)" if field.default is None else str(field.default)
        assert f"`{default}`" in row, f"the default of {name} in docs/configuration.md is not {default}"


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## +(\S+)\s*$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_every_column_of_every_table_is_documented() -> None:
    sections = _sections((DOCS / "schema.md").read_text())
    for table, columns in TABLES.items():
        assert table in sections, f"docs/schema.md has no section for {table}"
        for column in columns:
            assert f"`{column.name}`" in sections[table], f"{table}.{column.name} is not documented"
    for column in RESOURCES_SCHEMA.names:
        assert f"`{column}`" in sections[RESOURCES_TABLE], f"{RESOURCES_TABLE}.{column} is not documented"
    for table, ddl in {**PROJECTION_DDL, **WEBHOOK_DDL}.items():
        names = [n for n in re.findall(r"^\s+(\w+) [A-Z]", ddl, flags=re.MULTILINE) if n not in ("CREATE", "PRIMARY")]
        assert names, ddl
        for name in names:
            assert f"`{name}`" in sections[table], f"{table}.{name} is not documented"


def _sql_examples() -> list[tuple[str, str]]:
    found = []
    for name in ("schema.md", "events.md", "connectors.md"):
        for block in re.findall(r"```sql\n(.*?)```", (DOCS / name).read_text(), flags=re.DOTALL):
            found.append((name, block.strip().rstrip(";")))
    return found


@pytest.mark.parametrize(("doc", "sql"), _sql_examples(), ids=[f"{d}-{i}" for i, (d, _) in enumerate(_sql_examples())])
def test_every_sql_example_runs_through_the_query_api(collector: RunningCollector, doc: str, sql: str) -> None:
    response = httpx.post(f"{collector.api}/api/v1/query", json={"sql": sql}, timeout=30)
    assert response.status_code == 200, f"{doc}: {response.text}\n{sql}"
