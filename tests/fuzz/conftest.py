"""The five fuzzed services, each served once per test module on a SQLite file, with fakes for their peers.

Cart asks a fake catalogue served by aiohttp on 127.0.0.1 (through static discovery, as in production); shipping
and ratings take their peer ports directly (``cart=``, ``catalogue=``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from fastapi import FastAPI

from roboshop.cart.app import create_app as create_cart
from roboshop.cart.settings import CartSettings
from roboshop.catalogue.app import create_app as create_catalogue
from roboshop.catalogue.settings import CatalogueSettings
from roboshop.ratings.app import create_app as create_ratings
from roboshop.ratings.products import InMemoryProductCatalogue
from roboshop.ratings.settings import RatingsSettings
from roboshop.shipping.app import create_app as create_shipping
from roboshop.shipping.settings import ShippingSettings
from roboshop.user.app import create_app as create_user
from roboshop.user.settings import UserSettings
from tests.fuzz.fuzz_harness import RunningService, running_service
from tests.fuzz.fuzz_shop import CATALOGUE_PRODUCTS, RATED_SKUS, FakeCartService, fake_catalogue, small_geography


def _database(factory: pytest.TempPathFactory, service: str) -> Path:
    return factory.mktemp(service) / f"{service}.db"


@pytest.fixture(scope="module")
def user_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    database = _database(tmp_path_factory, "user")

    async def build(stack: AsyncExitStack) -> FastAPI:
        return create_user(UserSettings(database_url=f"sqlite:///{database}"))

    with running_service(build, database) as service:
        yield service


@pytest.fixture(scope="module")
def cart_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    database = _database(tmp_path_factory, "cart")

    async def build(stack: AsyncExitStack) -> FastAPI:
        catalogue = await stack.enter_async_context(fake_catalogue(CATALOGUE_PRODUCTS))
        settings = CartSettings(store_url=f"sqlite:///{database}", discovery="static", peers={"catalogue": catalogue})
        return create_cart(settings)

    with running_service(build, database) as service:
        yield service


@pytest.fixture(scope="module")
def shipping_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    database = _database(tmp_path_factory, "shipping")
    cart = FakeCartService()

    async def build(stack: AsyncExitStack) -> FastAPI:
        # Fault injection stays cheap while fuzzed: /memory keeps 1 MiB a call, far below the limit for this run.
        settings = ShippingSettings(database_url=f"sqlite:///{database}", memory_chunk_mib=1, memory_max_mib=256)
        return create_shipping(settings, cart=cart, geography=small_geography)

    with running_service(build, database, peer_state=cart.state) as service:
        yield service


@pytest.fixture(scope="module")
def catalogue_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    database = _database(tmp_path_factory, "catalogue")

    async def build(stack: AsyncExitStack) -> FastAPI:
        return create_catalogue(CatalogueSettings(database_url=f"sqlite:///{database}"))

    with running_service(build, database) as service:
        yield service


@pytest.fixture(scope="module")
def ratings_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    database = _database(tmp_path_factory, "ratings")

    async def build(stack: AsyncExitStack) -> FastAPI:
        catalogue = InMemoryProductCatalogue(RATED_SKUS)
        return create_ratings(RatingsSettings(database_url=f"sqlite:///{database}"), catalogue=catalogue)

    with running_service(build, database) as service:
        yield service
