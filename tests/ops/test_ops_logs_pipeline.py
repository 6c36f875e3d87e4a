"""Logs in Compose: Promtail's pipeline reads the fields the services really log, and Loki accepts what it sends.

Loki and Promtail cannot be installed here, so their configs are checked against each other, against the
Compose file that runs them, and against a real access log line from the service kit.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import orjson
from fastapi import APIRouter

from roboshop.kit.app import create_service_app
from roboshop.kit.logging import JsonFormatter
from roboshop.kit.settings import ServiceSettings
from tests.ops.artifacts import MONITORING, load_yaml

LOKI = MONITORING / "loki"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def promtail_stages() -> dict[str, Any]:
    config = load_yaml(LOKI / "promtail-config.yml")
    (job,) = config["scrape_configs"]
    return {name: body for stage in job["pipeline_stages"] for name, body in stage.items()}


async def access_log_line() -> dict[str, Any]:
    """One access log line as a cart process writes it (formatted while the request's context is set)."""
    router = APIRouter()

    @router.get("/cart/{cart_id}")
    async def cart(cart_id: str) -> dict[str, str]:
        return {"id": cart_id}

    app = create_service_app(ServiceSettings(service_name="cart", version="1.2.3"), routers=[router])
    stdout = io.StringIO()
    handler = logging.StreamHandler(stdout)
    handler.setFormatter(JsonFormatter("cart", "1.2.3"))
    access = logging.getLogger("roboshop.access")
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cart") as client:
                response = await client.get("/cart/anonymous-1", headers={"x-request-id": "req-42"})
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    assert response.status_code == 200
    (line,) = stdout.getvalue().splitlines()
    parsed: dict[str, Any] = orjson.loads(line)
    return parsed


async def test_a_real_access_log_line_has_every_field_promtail_turns_into_labels_and_time() -> None:
    line = await access_log_line()
    stages = promtail_stages()
    extracted = stages["json"]["expressions"]
    for field in (*stages["labels"], stages["timestamp"]["source"]):
        assert line[extracted[field]], field
    assert (line["service"], line["level"], line["request_id"]) == ("cart", "info", "req-42")
    assert stages["timestamp"]["format"] == "RFC3339Nano"
    assert RFC3339.fullmatch(line["timestamp"]), line["timestamp"]


def test_only_low_cardinality_fields_become_loki_labels() -> None:
    stages = promtail_stages()
    assert set(stages["labels"]) == {"level", "service"}
    assert {"request_id", "correlation_id", "trace_id"} <= set(stages["structured_metadata"])


def test_loki_accepts_the_structured_metadata_promtail_sends_and_listens_where_promtail_pushes() -> None:
    loki = load_yaml(LOKI / "loki-config.yml")
    promtail = load_yaml(LOKI / "promtail-config.yml")
    assert loki["limits_config"]["allow_structured_metadata"] is True
    # Structured metadata needs the TSDB index and schema v13.
    (schema,) = loki["schema_config"]["configs"]
    assert (schema["store"], schema["schema"]) == ("tsdb", "v13")
    push = urlparse(promtail["clients"][0]["url"])
    assert (push.hostname, push.port, push.path) == ("loki", loki["server"]["http_listen_port"], "/loki/api/v1/push")
    services = load_yaml(MONITORING / "compose.yaml")["services"]
    assert "loki" in services
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in services["promtail"]["volumes"]


def test_the_monitoring_compose_file_mounts_files_that_exist_and_publishes_on_loopback_only() -> None:
    services: dict[str, dict[str, Any]] = load_yaml(MONITORING / "compose.yaml")["services"]
    assert set(services) == {"prometheus", "alertmanager", "grafana", "loki", "promtail"}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (MONITORING / source).exists(), (name, volume)
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    prometheus = services["prometheus"]
    config = next(arg for arg in prometheus["command"] if arg.startswith("--config.file="))
    assert Path(config.split("=", 1)[1]).name == "prometheus-compose.yml"
    assert "./prometheus:/etc/prometheus:ro" in prometheus["volumes"]
