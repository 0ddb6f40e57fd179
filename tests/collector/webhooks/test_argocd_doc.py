"""docs/connectors.md's Argo CD example: the body its template renders is a deployment the collector stores."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import orjson
import yaml

from trellis.testing import RunningCollector

DOC = Path(__file__).resolve().parents[3] / "docs" / "connectors.md"


def _argocd_section() -> str:
    text = DOC.read_text()
    return text[text.index("## Argo CD") :]


def test_the_rendered_argocd_body_is_stored_as_one_deployment(collector: RunningCollector) -> None:
    rendered = re.search(r"```json\n(.*?)```", _argocd_section(), flags=re.DOTALL)
    assert rendered is not None

    answer = httpx.post(f"{collector.otlp_http}/v1/logs", content=rendered.group(1),
                        headers={"Content-Type": "application/json"}, timeout=30)  # fmt: skip

    assert answer.status_code == 200, answer.text
    assert answer.json() == {}
    row = only_deployment_of(collector, "argocd-checkout-api-2026-01-01T11:58:41Z")
    assert (row["status"], row["environment"], row["service_name"]) == ("succeeded", "production", "checkout-api")
    assert (row["service_namespace"], row["finished"]) == ("payments", "2026-01-01T12:00:00Z")


def only_deployment_of(collector: RunningCollector, deployment_id: str) -> dict[str, object]:
    found = httpx.post(f"{collector.api}/api/v1/query", json={
        "sql": "SELECT *, strftime(finished_at, '%Y-%m-%dT%H:%M:%SZ') AS finished FROM deployments "
               "WHERE deployment_id = ?", "params": [deployment_id]}, timeout=30).json()  # fmt: skip
    names = [c["name"] for c in found["columns"]]
    [row] = found["rows"]
    return dict(zip(names, row, strict=True))


def test_the_argocd_config_map_is_yaml_whose_template_renders_the_same_keys() -> None:
    config = re.search(r"```yaml\n(apiVersion: v1.*?)```", _argocd_section(), flags=re.DOTALL)
    assert config is not None
    data = yaml.safe_load(config.group(1))["data"]
    template = yaml.safe_load(data["template.trellis-deployment"])["webhook"]["trellis"]
    rendered = orjson.loads(re.search(r"```json\n(.*?)```", _argocd_section(), flags=re.DOTALL).group(1))

    assert template["path"] == "/v1/logs"
    keys_in_template = re.findall(r'"key": "([a-z._]+)"', template["body"])
    record = rendered["resourceLogs"][0]
    keys_rendered = [a["key"] for a in record["resource"]["attributes"]] + [
        a["key"] for a in record["scopeLogs"][0]["logRecords"][0]["attributes"]
    ]
    assert keys_in_template == keys_rendered
    assert yaml.safe_load(data["trigger.trellis-on-sync-finished"])[0]["send"] == ["trellis-deployment"]
