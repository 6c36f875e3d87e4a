"""The Prometheus configurations of the three profiles, and Alertmanager's, checked by the real tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.artifacts import MONITORING, PROFILES, PROMETHEUS_DIR, RULES_DIR, load_yaml, run

SERVICES = ("catalogue", "user", "cart", "shipping", "payment", "orders", "dispatch", "ratings", "gateway", "registry")
ALERTMANAGER = MONITORING / "alertmanager" / "alertmanager.yml"


def config_path(profile: str) -> Path:
    return PROMETHEUS_DIR / f"prometheus-{profile}.yml"


def roboshop_job(profile: str) -> dict[str, Any]:
    jobs = load_yaml(config_path(profile))["scrape_configs"]
    return next(job for job in jobs if job["job_name"] == "roboshop")


@pytest.mark.parametrize("profile", ["local", "compose"])
def test_the_profile_config_and_its_rule_files_pass_promtool(promtool: str, profile: str) -> None:
    result = run(promtool, "check", "config", config_path(profile))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout
    assert "roboshop-alerts.yml" in result.stdout


def test_the_kubernetes_config_passes_promtool(promtool: str, tmp_path: Path) -> None:
    """Debian builds Prometheus without Kubernetes discovery: then everything but that block is checked."""
    path = config_path("kubernetes")
    result = run(promtool, "check", "config", "--syntax-only", path)
    if result.returncode == 0:
        return
    output = result.stdout + result.stderr
    assert "field kubernetes_sd_configs not found" in output, output
    config = load_yaml(path)
    for job in config["scrape_configs"]:
        if "kubernetes_sd_configs" in job:
            assert job.pop("kubernetes_sd_configs") == [{"role": "pod"}]
            job["static_configs"] = [{"targets": []}]
    stand_in = tmp_path / path.name
    stand_in.write_text(yaml.safe_dump(config, sort_keys=False))
    (tmp_path / "rules").symlink_to(RULES_DIR)
    checked = run(promtool, "check", "config", stand_in)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 2 rule files found" in checked.stdout


def test_promtool_rejects_a_broken_relabelling_so_the_checks_above_mean_something(
    promtool: str, tmp_path: Path
) -> None:
    config = load_yaml(config_path("local"))
    config["scrape_configs"][0]["relabel_configs"].append({"action": "replace", "regex": "(unclosed"})
    broken = tmp_path / "prometheus.yml"
    broken.write_text(yaml.safe_dump(config))
    result = run(promtool, "check", "config", "--syntax-only", broken)
    assert result.returncode != 0
    assert "error parsing regexp" in result.stdout + result.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_loads_the_rules_but_not_their_tests_and_notifies_alertmanager(profile: str) -> None:
    config = load_yaml(config_path(profile))
    loaded = {path.name for pattern in config["rule_files"] for path in PROMETHEUS_DIR.glob(pattern)}
    assert loaded == {"roboshop-records.yml", "roboshop-alerts.yml"}
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert [target.endswith(":9093") for target in targets] == [True]
    assert roboshop_job(profile)["honor_labels"] is True


def test_the_local_profile_discovers_instances_through_the_registry() -> None:
    job = roboshop_job("local")
    assert job["http_sd_configs"][0]["url"] == "http://127.0.0.1:8500/v1/sd/prometheus"
    # The registry does not list itself: it is a static target with the same labels as the others.
    assert job["static_configs"] == [
        {"targets": ["127.0.0.1:8500"], "labels": {"service": "registry", "instance_id": "registry-1"}}
    ]
    assert {"action": "labeldrop", "regex": "status"} in job["relabel_configs"]


def test_the_compose_profile_scrapes_every_service_on_port_8080() -> None:
    groups = roboshop_job("compose")["static_configs"]
    assert {group["labels"]["service"]: group["targets"] for group in groups} == {
        service: [f"{service}:8080"] for service in SERVICES
    }


def test_the_kubernetes_profile_scrapes_annotated_roboshop_pods() -> None:
    job = roboshop_job("kubernetes")
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    sources = {label for step in job["relabel_configs"] for label in step.get("source_labels", [])}
    for annotation in ("scrape", "port", "path"):
        assert f"__meta_kubernetes_pod_annotation_prometheus_io_{annotation}" in sources
    targets = {step.get("target_label") for step in job["relabel_configs"]}
    assert {"__address__", "__metrics_path__", "service", "instance_id"} <= targets


def test_the_alertmanager_config_passes_amtool(amtool: str) -> None:
    result = run(amtool, "check-config", ALERTMANAGER)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("severity", "receiver"), [("critical", "roboshop-page"), ("warning", "roboshop-ticket")])
def test_alertmanager_pages_for_critical_alerts_and_tickets_the_rest(amtool: str, severity: str, receiver: str) -> None:
    labels = ("alertname=RoboshopServiceDown", f"severity={severity}")
    result = run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver
