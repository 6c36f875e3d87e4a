"""`roboshop up --monitoring`: the Prometheus configuration and processes it derives for one run."""

from __future__ import annotations

from pathlib import Path

import pytest

from roboshop.cli.monitoring import MonitoringPlan, monitoring_dir


def plan(tmp_path: Path) -> MonitoringPlan:
    return MonitoringPlan(tmp_path, "http://127.0.0.1:18500", "127.0.0.1:18500", 19090, 19093)


def test_prometheus_discovers_instances_through_this_runs_registry(tmp_path: Path) -> None:
    config = plan(tmp_path).prometheus_config()
    roboshop = next(job for job in config["scrape_configs"] if job["job_name"] == "roboshop")
    assert roboshop["http_sd_configs"][0]["url"] == "http://127.0.0.1:18500/v1/sd/prometheus"
    assert roboshop["static_configs"][0]["targets"] == ["127.0.0.1:18500"]
    alerting = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alerting == ["127.0.0.1:19093"]


def test_rule_files_point_at_the_shipped_rules(tmp_path: Path) -> None:
    rules = plan(tmp_path).prometheus_config()["rule_files"]
    assert rules
    assert all(str(monitoring_dir() / "prometheus" / "rules") in pattern for pattern in rules)


def test_processes_bind_loopback_and_keep_their_data_in_the_data_dir(tmp_path: Path) -> None:
    watch = plan(tmp_path)
    if watch.missing():
        pytest.skip(f"not installed: {watch.missing()}")
    prometheus, alertmanager = watch.processes({})
    assert "--web.listen-address=127.0.0.1:19090" in prometheus.argv
    assert f"--storage.tsdb.path={tmp_path / 'monitoring' / 'prometheus'}" in prometheus.argv
    assert "--web.listen-address=127.0.0.1:19093" in alertmanager.argv
    assert (tmp_path / "monitoring" / "prometheus.yml").exists()
