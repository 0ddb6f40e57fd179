"""trellis/analytics/prices.py: defaults, and the YAML price table that overrides them."""

from __future__ import annotations

from pathlib import Path

import pytest

from trellis.analytics.prices import DEFAULT_PRICES, PriceTableError, load_price_table, merged, resource_price


def test_a_price_table_overrides_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(
        "currency: EUR\ncpu_core_hour: 0.05\nresources:\n  postgres: 0.2\n  postgres/large: 0.8\n"
        "  redis: {default: 0.05, large: 0.3}\n"
    )
    currency, prices = load_price_table(path)
    assert currency == "EUR"
    assert prices == {"cpu_core_hour": 0.05, "postgres": 0.2, "postgres/large": 0.8, "redis/default": 0.05,
                      "redis/large": 0.3}  # fmt: skip
    table = merged(prices)
    assert table["memory_gib_hour"] == DEFAULT_PRICES["memory_gib_hour"] == 0.004237
    assert resource_price(table, "postgres", "large") == 0.8
    assert resource_price(table, "postgres", "small") == 0.2
    assert resource_price(table, "redis", "default") == 0.05
    assert resource_price(table, "s3", "default") == DEFAULT_PRICES["s3"]
    assert resource_price(table, "unknown", "default") == 0.0
    assert resource_price(table, None, None) == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cpu_core_hour: cheap\n", "cpu_core_hour must be a number"),
        ("memory_gib_hour: -1\n", "must not be negative"),
        ("gpu_hour: 1\n", "unknown key 'gpu_hour'"),
        ("resources: [postgres]\n", "resources must map a type"),
        ("- 1\n", "must be a mapping"),
        ("currency: 5\n", "currency must be a text"),
        ("cpu: [\n", "not valid YAML"),
    ],
)
def test_a_bad_price_table_names_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(PriceTableError, match=message) as info:
        load_price_table(path)
    assert str(path) in str(info.value)
    with pytest.raises(PriceTableError, match="cannot read"):
        load_price_table(tmp_path / "missing.yaml")
