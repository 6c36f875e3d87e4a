"""One contract for every InstanceStore: the in-memory fake, SQLite, PostgreSQL and MariaDB agree."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from roboshop.kit.db import create_engine, migrate
from roboshop.registry.domain import AWAITING_FIRST_CHECK, Health, HealthCheck, ServiceInstance, Status
from roboshop.registry.store import InMemoryInstanceStore, InstanceStore, SqlInstanceStore

T0 = 1_700_000_000.25


@pytest.fixture(params=["memory", "sqlite", "postgresql", "mariadb"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """The database URL of each backend (like the shared ``database_url``), None for the in-memory fake."""
    if request.param == "memory":
        return None
    if request.param != "sqlite":
        request.applymarker(pytest.mark.integration)
    url_fixture = {"sqlite": "sqlite_url", "postgresql": "postgres_url", "mariadb": "mariadb_url"}[request.param]
    url: str = request.getfixturevalue(url_fixture)
    return url


@pytest.fixture
async def store(backend: str | None) -> AsyncIterator[InstanceStore]:
    if backend is None:
        yield InMemoryInstanceStore()
        return
    engine = create_engine(backend)
    try:
        await migrate(engine, "roboshop.registry.migrations", service="registry")
        yield SqlInstanceStore(engine)
    finally:
        await engine.dispose()


def an_instance(instance_id: str = "catalogue-1", *, service: str = "catalogue", port: int = 8101) -> ServiceInstance:
    return ServiceInstance(
        id=instance_id,
        service=service,
        address="127.0.0.1",
        port=port,
        tags=("v1", "canary"),
        meta={"version": "1.0", "zone": "ä-1"},
        check=HealthCheck(f"http://127.0.0.1:{port}/health", 0.1, 1.5, 30.0),
        health=Health(Status.CRITICAL, AWAITING_FIRST_CHECK, None, T0),
    )


async def test_a_saved_instance_is_loaded_back_exactly(store: InstanceStore) -> None:
    instance = an_instance()

    await store.save(instance)

    assert await store.load_all() == [instance]


async def test_an_instance_without_tags_meta_or_deregister_after_is_loaded_back_exactly(store: InstanceStore) -> None:
    instance = replace(
        an_instance(), tags=(), meta={}, check=HealthCheck("https://catalogue.internal/health", 600.0, 10.0, None)
    )

    await store.save(instance)

    assert await store.load_all() == [instance]


async def test_instances_are_loaded_sorted_by_id(store: InstanceStore) -> None:
    for instance_id in ("catalogue-2", "cart-1", "catalogue-1"):
        await store.save(an_instance(instance_id))

    assert [instance.id for instance in await store.load_all()] == ["cart-1", "catalogue-1", "catalogue-2"]


async def test_saving_an_existing_id_replaces_the_instance(store: InstanceStore) -> None:
    await store.save(an_instance())
    moved = replace(an_instance(port=9101), tags=("v2",), health=Health(Status.PASSING, "HTTP 200", T0 + 1, None))

    await store.save(moved)

    assert await store.load_all() == [moved]


async def test_a_status_change_is_saved_with_its_output_and_times(store: InstanceStore) -> None:
    await store.save(an_instance())
    health = Health(Status.PASSING, "HTTP 200", T0 + 2.5, None)

    await store.save_health("catalogue-1", health)

    [loaded] = await store.load_all()
    assert loaded == replace(an_instance(), health=health)


async def test_a_status_change_for_an_unknown_id_stores_nothing(store: InstanceStore) -> None:
    await store.save_health("nobody", Health(Status.PASSING, "HTTP 200", T0, None))

    assert await store.load_all() == []


async def test_removing_forgets_the_instance_once(store: InstanceStore) -> None:
    await store.save(an_instance("catalogue-1"))
    await store.save(an_instance("catalogue-2"))

    assert await store.remove("catalogue-1") is True
    assert await store.remove("catalogue-1") is False
    assert [instance.id for instance in await store.load_all()] == ["catalogue-2"]
