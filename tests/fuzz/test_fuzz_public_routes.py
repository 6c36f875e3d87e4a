"""The fuzz tests cover the public surface: every route the gateway exposes for the fuzzed services is in the
service's OpenAPI description, which the fuzz tests take every route from."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml

from tests.fuzz.fuzz_shop import APPS

# Prometheus' scrape endpoint takes no input and is not part of any OpenAPI description.
UNDESCRIBED = {("GET", "/metrics")}


def public_routes(service: str) -> set[tuple[str, str]]:
    table: dict[str, Any] = yaml.safe_load(resources.files("roboshop.gateway").joinpath("routes.yaml").read_text())
    routes = table["services"][service]["routes"]
    return {(method, route["path"]) for route in routes for method in route["methods"]}


@pytest.mark.parametrize("service", APPS)
def test_fuzz_covers_every_public_route_of(service: str) -> None:
    described = {
        (method.upper(), path)
        for path, operations in APPS[service]().openapi()["paths"].items()
        for method in operations
    }
    assert public_routes(service) - UNDESCRIBED <= described
