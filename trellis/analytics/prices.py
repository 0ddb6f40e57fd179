"""Unit prices for the cost job: defaults, and the YAML price table that overrides them.

The price table is YAML (``--price-table``)::

    currency: EUR
    cpu_core_hour: 0.028
    memory_gib_hour: 0.0038
    resources:
      postgres: 0.12              # every class of the type
      postgres/large: 0.48        # one class
      redis: {default: 0.05, large: 0.2}

Every price is per hour. A key left out keeps its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_CURRENCY = "USD"

DEFAULT_PRICES: dict[str, float] = {
    "cpu_core_hour": 0.031611,
    "memory_gib_hour": 0.004237,
    "postgres": 0.10,
    "mysql": 0.10,
    "redis": 0.05,
    "s3": 0.01,
    "dns": 0.0007,
    "kafka-topic": 0.02,
    "k8s-namespace": 0.0,
}
"""OpenCost's default (GCP us-central1 based) CPU and memory prices; catalog resource prices are Trellis
placeholders of a small managed instance each, meant to be replaced by a price table."""


class PriceTableError(ValueError):
    """The price table cannot be read; the message names the file and the key."""


def merged(overrides: dict[str, float]) -> dict[str, float]:
    return {**DEFAULT_PRICES, **overrides}


def resource_price(prices: dict[str, float], type_: str | None, class_: str | None) -> float:
    """The hourly price of one catalog resource: ``type/class``, else ``type``, else 0."""
    if type_ is None:
        return 0.0
    if class_ is not None and f"{type_}/{class_}" in prices:
        return prices[f"{type_}/{class_}"]
    return prices.get(type_, 0.0)


def _number(path: Path, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PriceTableError(f"{path}: {key} must be a number (a price per hour), not {value!r}")
    if value < 0:
        raise PriceTableError(f"{path}: {key} must not be negative")
    return float(value)


def load_price_table(path: Path) -> tuple[str, dict[str, float]]:
    """The currency and the flat price overrides a price table file gives."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise PriceTableError(f"{path}: cannot read the price table: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PriceTableError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise PriceTableError(f"{path}: the price table must be a mapping")
    unknown = set(raw) - {"currency", "cpu_core_hour", "memory_gib_hour", "resources"}
    if unknown:
        raise PriceTableError(f"{path}: unknown key {sorted(unknown)[0]!r}")
    prices: dict[str, float] = {}
    for key in ("cpu_core_hour", "memory_gib_hour"):
        if key in raw:
            prices[key] = _number(path, key, raw[key])
    resources = raw.get("resources") or {}
    if not isinstance(resources, dict):
        raise PriceTableError(f"{path}: resources must map a type (or type/class) to a price")
    for name, value in resources.items():
        if isinstance(value, dict):
            for class_, price in value.items():
                prices[f"{name}/{class_}"] = _number(path, f"resources.{name}.{class_}", price)
        else:
            prices[str(name)] = _number(path, f"resources.{name}", value)
    currency = raw.get("currency", DEFAULT_CURRENCY)
    if not isinstance(currency, str) or not currency:
        raise PriceTableError(f"{path}: currency must be a text such as USD")
    return currency, prices
