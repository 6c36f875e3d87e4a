"""Grafana dashboards as code: the committed JSON is what the builder makes, and every query is valid PromQL."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.ops.artifacts import MONITORING, check_promql, load_yaml

GRAFANA = MONITORING / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
EXPECTED = {"roboshop-overview.json", "roboshop-checkout.json", "roboshop-gateway.json", "roboshop-broker.json"}
# What Grafana puts in place of its own variables, and of ours ("All" is ".*", see allValue).
BUILTIN_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in DASHBOARD_FILES}


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def as_promql(text: str) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: BUILTIN_VARIABLES.get(m.group(1), ".*"), text)


def expressions(board_name: str, board: dict[str, Any]) -> dict[str, str]:
    """Every PromQL expression of a dashboard (targets, annotations, variables), keyed by a valid rule name."""
    stem = board_name.removesuffix(".json").replace("-", "_")
    found: dict[str, str] = {}
    for panel in panels(board):
        for target in panel.get("targets", []):
            found[f"{stem}:panel_{panel['id']}_{target['refId']}"] = as_promql(target["expr"])
    for index, annotation in enumerate(board["annotations"]["list"]):
        found[f"{stem}:annotation_{index}"] = as_promql(annotation["expr"])
    for variable in board["templating"].get("list", []):
        selector = re.fullmatch(r"label_values\((.+), *(\w+)\)", variable["query"])
        assert selector, variable["query"]
        found[f"{stem}:variable_{variable['name']}"] = as_promql(selector.group(1))
    return found


def load_builder() -> ModuleType:
    pytest.importorskip("grafana_foundation_sdk")
    spec = importlib.util.spec_from_file_location("roboshop_dashboards_builder", GRAFANA / "build_dashboards.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_four_dashboards_of_the_issue_are_committed() -> None:
    assert {path.name for path in DASHBOARD_FILES} == EXPECTED


def test_the_committed_dashboards_are_what_the_builder_generates() -> None:
    builder = load_builder()
    generated = builder.render()
    assert set(generated) == EXPECTED
    for name, text in generated.items():
        assert (GRAFANA / "dashboards" / name).read_text() == text, f"{name} is stale: run build_dashboards.py"
    assert builder.stale() == []


def test_the_builder_notices_a_hand_edited_dashboard(tmp_path: Path) -> None:
    builder = load_builder()
    for name, text in builder.render().items():
        (tmp_path / name).write_text(text)
    edited = tmp_path / "roboshop-gateway.json"
    edited.write_text(edited.read_text().replace("Requests by route", "Requests per route"))
    assert builder.stale(tmp_path) == ["roboshop-gateway.json"]


def test_every_panel_and_query_uses_the_provisioned_prometheus_datasource() -> None:
    provisioned = load_yaml(GRAFANA / "provisioning" / "datasources" / "roboshop.yml")["datasources"]
    uid_of_type = {source["type"]: source["uid"] for source in provisioned}
    assert uid_of_type["prometheus"] == "prometheus"
    for name, board in dashboards().items():
        for panel in panels(board):
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "prometheus", (name, panel["title"])
        for item in board["annotations"]["list"] + board["templating"].get("list", []):
            assert item["datasource"]["uid"] == uid_of_type[item["datasource"]["type"]], name


def test_panels_have_unique_ids_titles_and_query_refs_and_do_not_overlap() -> None:
    for name, board in dashboards().items():
        ids = [panel["id"] for panel in panels(board)]
        assert len(ids) == len(set(ids)), name
        occupied: set[tuple[int, int]] = set()
        for panel in panels(board):
            assert panel["title"], name
            refs = [target["refId"] for target in panel.get("targets", [])]
            assert len(refs) == len(set(refs)), (name, panel["title"])
            pos = panel["gridPos"]
            cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert pos["x"] + pos["w"] <= 24, (name, panel["title"])
            assert not cells & occupied, (name, panel["title"])
            occupied |= cells


def test_every_dashboard_query_is_valid_promql(promtool: str, tmp_path: Path) -> None:
    found = {key: expr for name, board in dashboards().items() for key, expr in expressions(name, board).items()}
    assert len(found) > 50  # the extraction found the queries, not nothing
    result = check_promql(promtool, found, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_promql_check_rejects_a_broken_query(promtool: str, tmp_path: Path) -> None:
    broken = {
        "board:panel_1_A": as_promql(
            'sum by (service) (rate(http_requests_total{service=~"$service"}[$__rate_interval])'
        )
    }
    result = check_promql(promtool, broken, tmp_path)
    assert result.returncode != 0
    assert "unclosed left parenthesis" in result.stdout + result.stderr


def test_grafana_loads_the_dashboards_from_where_compose_mounts_them() -> None:
    provider = load_yaml(GRAFANA / "provisioning" / "dashboards" / "roboshop.yml")["providers"][0]
    grafana = load_yaml(MONITORING / "compose.yaml")["services"]["grafana"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in grafana["volumes"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
