"""Fixtures for the ops artifacts' tests: the real Prometheus tools (see ``tests.ops.artifacts``)."""

from __future__ import annotations

import pytest

from tests.ops.artifacts import tool


@pytest.fixture
def promtool() -> str:
    return tool("promtool")


@pytest.fixture
def amtool() -> str:
    return tool("amtool")


@pytest.fixture
def prometheus_binary() -> str:
    return tool("prometheus")
