"""The local profile: which processes ``roboshop up`` starts, and with what configuration."""

from __future__ import annotations

import os
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from roboshop.cli.services import ALL_SERVICES, GATEWAY, REGISTRY, ServiceSpec, spec
from roboshop.cli.supervisor import ProcessSpec

MAX_REPLICAS = 16


@dataclass(frozen=True)
class LocalPlan:
    host: str
    gateway_port: int
    registry_port: int
    data_dir: Path
    replicas: dict[str, int]
    internal_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)

    @property
    def registry_url(self) -> str:
        return f"http://{self.host}:{self.registry_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    def instance_names(self) -> list[str]:
        return [f"{svc.name}-{n}" for svc in ALL_SERVICES for n in range(1, self.replicas.get(svc.name, 1) + 1)]

    def processes(self) -> list[ProcessSpec]:
        found = []
        for svc in ALL_SERVICES:
            for n in range(1, self.replicas.get(svc.name, 1) + 1):
                found.append(self._process(svc, f"{svc.name}-{n}"))
        return found

    def _process(self, svc: ServiceSpec, instance: str) -> ProcessSpec:
        p = svc.env_prefix
        env = dict(os.environ)
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                f"{p}HOST": self.host,
                f"{p}INSTANCE_ID": instance,
                f"{p}PORT": "0",
                f"{p}DISCOVERY": "registry",
                f"{p}REGISTRY_URL": self.registry_url,
                f"{p}CHECK_INTERVAL_S": "1",
                f"{p}DEREGISTER_AFTER_S": "30",
                f"{p}GRACE_PERIOD_S": "5",
                f"{p}DEREGISTER_DELAY_S": "0.2",
                f"{p}INTERNAL_TOKEN": self.internal_token,
            }
        )
        if svc.database:
            env[f"{p}{svc.database_setting}"] = f"sqlite:///{self.data_dir / (svc.name + '.db')}"
        stop_order = 1
        if svc is GATEWAY:
            env[f"{p}PORT"] = str(self.gateway_port)
            stop_order = 0
        if svc is REGISTRY:
            env[f"{p}PORT"] = str(self.registry_port)
            env.pop(f"{p}REGISTRY_URL")
            env[f"{p}DISCOVERY"] = "static"
            stop_order = 2
        return ProcessSpec(
            instance=instance,
            service=svc.name,
            argv=(sys.executable, "-m", svc.module),
            env=env,
            stop_order=stop_order,
        )


def parse_replicas(values: list[str]) -> dict[str, int]:
    """``["catalogue=3"]`` -> ``{"catalogue": 3}``, with errors that say what to write instead."""
    replicas: dict[str, int] = {}
    for value in values:
        name, sep, count = value.partition("=")
        if not sep or not count.strip().isdigit():
            raise ValueError(f"--replicas expects SERVICE=N, for example catalogue=3 (got '{value}')")
        service = spec(name.strip())
        n = int(count)
        if not service.scalable and n != 1:
            raise ValueError(f"{service.name} runs as a single instance in the local profile")
        if not 1 <= n <= MAX_REPLICAS:
            raise ValueError(f"--replicas {service.name}: N must be between 1 and {MAX_REPLICAS}")
        replicas[service.name] = n
    return replicas
