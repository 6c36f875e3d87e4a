"""Reading the registry for ``roboshop status`` and for the readiness wait of ``roboshop up``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class InstanceView:
    id: str
    service: str
    url: str
    status: str
    output: str
    last_check: str | None
    version: str


class RegistryUnreachable(Exception):
    pass


def fetch_instances(registry_url: str, timeout_s: float = 2.0) -> list[InstanceView]:
    url = registry_url.rstrip("/") + "/v1/agent/services"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - our own registry URL
            body: dict[str, dict[str, Any]] = json.load(response)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise RegistryUnreachable(f"no registry answers at {registry_url} ({exc})") from exc
    views = [
        InstanceView(
            id=str(item["ID"]),
            service=str(item["Service"]),
            url=f"http://{item['Address']}:{item['Port']}",
            status=str(item.get("Status", "unknown")),
            output=str(item.get("Output", "")),
            last_check=item.get("LastCheck"),
            version=str((item.get("Meta") or {}).get("version", "")),
        )
        for item in body.values()
    ]
    return sorted(views, key=lambda v: (v.service, v.id))


def as_json(registry_url: str, instances: list[InstanceView]) -> dict[str, Any]:
    services: dict[str, list[dict[str, Any]]] = {}
    for view in instances:
        services.setdefault(view.service, []).append(asdict(view))
    return {"registry": registry_url, "services": services}
