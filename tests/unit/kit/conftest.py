from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .fakes import FakeRegistry


@pytest.fixture
async def fake_registry() -> AsyncIterator[FakeRegistry]:
    registry = FakeRegistry()
    await registry.start()
    yield registry
    await registry.stop()
