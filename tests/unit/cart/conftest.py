from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from roboshop.cart.store import InMemoryCartStore
from tests.unit.cart.fakes import FakeCatalogue
from tests.unit.cart.shop import Shop, running_shop


@pytest.fixture
async def catalogue() -> AsyncIterator[FakeCatalogue]:
    fake = FakeCatalogue()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def shop(catalogue: FakeCatalogue) -> AsyncIterator[Shop]:
    """The cart service in-process (lifespan running) over an in-memory store and the fake catalogue."""
    async with running_shop(catalogue.settings(peer_timeout_s=0.5), InMemoryCartStore()) as running:
        yield running
