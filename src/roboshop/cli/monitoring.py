"""``roboshop up --monitoring``: Prometheus and Alertmanager beside the shop, when their binaries are installed.

Prometheus gets the local profile's configuration from ``deploy/monitoring/prometheus/prometheus-local.yml`` with
this run's registry and ports filled in, so it discovers every instance through the registry and evaluates the shipped
alert rules; Alertmanager gets ``deploy/monitoring/alertmanager/alertmanager.yml``. Both are supervised like the
services and keep their data under ``<data-dir>/monitoring``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from roboshop.cli.supervisor import ProcessSpec

INSTALL_HINT = (
    "apt-get install prometheus prometheus-alertmanager (Debian/Ubuntu), or put the prometheus and alertmanager "
    "binaries on PATH"
)
ALERTMANAGER_BINARIES = ("alertmanager", "prometheus-alertmanager")


def monitoring_dir() -> Path:
    """``deploy/monitoring`` of the checkout this package runs from (``make up`` installs it editable)."""
    return Path(__file__).resolve().parents[3] / "deploy" / "monitoring"


@dataclass(frozen=True)
class MonitoringPlan:
    data_dir: Path
    registry_url: str
    registry_address: str
    prometheus_port: int
    alertmanager_port: int
    host: str = "127.0.0.1"

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.host}:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{self.host}:{self.alertmanager_port}"

    def missing(self) -> list[str]:
        found = []
        if shutil.which("prometheus") is None:
            found.append("prometheus")
        if not any(shutil.which(name) for name in ALERTMANAGER_BINARIES):
            found.append("alertmanager")
        if not (monitoring_dir() / "prometheus" / "prometheus-local.yml").exists():
            found.append(f"the monitoring configuration in {monitoring_dir()}")
        return found

    def prometheus_config(self) -> dict[str, Any]:
        """The shipped local configuration, pointed at this run's registry, rules and Alertmanager."""
        source = monitoring_dir() / "prometheus"
        config: dict[str, Any] = yaml.safe_load((source / "prometheus-local.yml").read_text())
        config["rule_files"] = [str(source / pattern) for pattern in config.get("rule_files", [])]
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": [f"{self.host}:{self.alertmanager_port}"]}]}]
        }
        for job in config["scrape_configs"]:
            for sd in job.get("http_sd_configs", []):
                sd["url"] = f"{self.registry_url}/v1/sd/prometheus"
            if job["job_name"] == "prometheus":
                job["static_configs"] = [{"targets": [f"{self.host}:{self.prometheus_port}"]}]
            else:
                for static in job.get("static_configs", []):
                    static["targets"] = [self.registry_address]
        return config

    def processes(self, env: dict[str, str]) -> list[ProcessSpec]:
        home = self.data_dir / "monitoring"
        home.mkdir(parents=True, exist_ok=True)
        config_path = home / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(self.prometheus_config(), sort_keys=False))
        alertmanager = next(path for name in ALERTMANAGER_BINARIES if (path := shutil.which(name)))
        prometheus = shutil.which("prometheus")
        assert prometheus is not None
        return [
            ProcessSpec(
                instance="prometheus-1",
                service="prometheus",
                argv=(
                    prometheus,
                    f"--config.file={config_path}",
                    f"--web.listen-address={self.host}:{self.prometheus_port}",
                    f"--storage.tsdb.path={home / 'prometheus'}",
                ),
                env=env,
                stop_order=0,
            ),
            ProcessSpec(
                instance="alertmanager-1",
                service="alertmanager",
                argv=(
                    alertmanager,
                    f"--config.file={monitoring_dir() / 'alertmanager' / 'alertmanager.yml'}",
                    f"--web.listen-address={self.host}:{self.alertmanager_port}",
                    f"--storage.path={home / 'alertmanager'}",
                    "--cluster.listen-address=",
                ),
                env=env,
                stop_order=0,
            ),
        ]
