"""`roboshop up --monitoring` runs Prometheus, which finds every instance through the registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_shop, wait_until
from tests.support import free_port, integration_required

pytestmark = pytest.mark.e2e


def test_prometheus_scrapes_every_service_found_through_the_registry(tmp_path: Path) -> None:
    if shutil.which("prometheus") is None:
        if integration_required():
            pytest.fail("prometheus is not installed (apt-get install prometheus prometheus-alertmanager)")
        pytest.skip("prometheus is not installed")
    prometheus_port, alertmanager_port = free_port(), free_port()
    shop = start_shop(
        tmp_path,
        "--monitoring",
        "--prometheus-port",
        str(prometheus_port),
        "--alertmanager-port",
        str(alertmanager_port),
    )
    try:
        api = f"http://127.0.0.1:{prometheus_port}/api/v1"
        expected = {"registry", "gateway", "catalogue", "user", "cart", "shipping", "ratings"}

        def services_up() -> bool:
            try:
                targets = httpx.get(f"{api}/targets", timeout=2).json()["data"]["activeTargets"]
            except (httpx.HTTPError, ValueError, KeyError):
                return False
            up = {t["labels"].get("service") for t in targets if t["health"] == "up"}
            return expected <= up

        wait_until(services_up, 60, "Prometheus to scrape every service", interval_s=0.5)
        assert httpx.get(f"http://127.0.0.1:{alertmanager_port}/-/ready", timeout=2).status_code == 200
    finally:
        assert shop.stop() == 0
