"""The peer client against real upstream servers on 127.0.0.1, with discovery faked behind its Protocol."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from roboshop.kit import context
from roboshop.kit.breaker import BreakerState
from roboshop.kit.discovery import Discovery, Instance, RegistryDiscovery
from roboshop.kit.errors import PeerError, PeerTimeout, PeerUnavailable
from roboshop.kit.peer import PeerClient

from .fakes import FakeRegistry, WebServer, health_row, unused_port


class FakeDiscovery:
    """Discovery with a fixed list of instances: round robin, and a reported failure drops an instance."""

    def __init__(self, instances: list[Instance]) -> None:
        self._instances = instances
        self._cursor = itertools.count()
        self.failures: list[Instance] = []
        self.session: aiohttp.ClientSession | None = None

    async def start(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def instances(self, service: str) -> list[Instance]:
        return [i for i in self._instances if i.service == service and i not in self.failures]

    async def pick(self, service: str) -> Instance:
        found = await self.instances(service)
        if not found:
            raise PeerUnavailable(f"no healthy instance of service '{service}' is registered")
        return found[next(self._cursor) % len(found)]

    def report_failure(self, instance: Instance) -> None:
        self.failures.append(instance)


class Catalogue:
    """An upstream catalogue instance that records what reached it."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, str, dict[str, str], bytes]] = []
        self.release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/product/{sku}", self._product)
        app.router.add_get("/slow", self._slow)
        self.server = WebServer(app)

    @property
    def port(self) -> int:
        return self.server.port

    async def _product(self, request: web.Request) -> web.Response:
        self.hits.append((request.method, request.path, dict(request.headers), await request.read()))
        sku = request.match_info["sku"]
        if sku == "MISSING":
            return web.Response(status=404, text="SKU not found")
        if sku == "BROKEN":
            return web.json_response({"error": "database down"}, status=503)
        return web.json_response({"sku": sku, "name": "Robbie", "price": 42.5}, status=200)

    async def _slow(self, request: web.Request) -> web.Response:
        self.hits.append((request.method, request.path, dict(request.headers), b""))
        await asyncio.wait_for(self.release.wait(), timeout=5.0)
        return web.Response(text="too late")


def instance(port: int, n: int = 1) -> Instance:
    return Instance(f"catalogue-{n}", "catalogue", "127.0.0.1", port)


@pytest.fixture
async def catalogue() -> AsyncIterator[Catalogue]:
    upstream = Catalogue()
    await upstream.server.start()
    yield upstream
    upstream.release.set()
    await upstream.server.stop()


async def started(discovery: Discovery, timeout_s: float = 5.0) -> PeerClient:
    client = PeerClient(discovery, timeout_s=timeout_s)
    await client.start()
    return client


@pytest.fixture
async def peers_with_a_dead_first_instance(catalogue: Catalogue) -> AsyncIterator[tuple[PeerClient, FakeDiscovery]]:
    discovery = FakeDiscovery([instance(unused_port(), 1), instance(catalogue.port, 2)])
    client = await started(discovery)
    yield client, discovery
    await client.close()


async def test_the_client_hands_its_session_to_discovery() -> None:
    discovery = FakeDiscovery([])
    client = await started(discovery)
    try:
        assert discovery.session is client.session
    finally:
        await client.close()


async def test_a_get_is_retried_on_another_instance_when_the_first_refuses_connections(
    peers_with_a_dead_first_instance: tuple[PeerClient, FakeDiscovery], catalogue: Catalogue
) -> None:
    client, discovery = peers_with_a_dead_first_instance

    response = await client.get("catalogue", "/product/RD-1")

    assert response.status == 200
    assert response.json() == {"sku": "RD-1", "name": "Robbie", "price": 42.5}
    assert [i.id for i in discovery.failures] == ["catalogue-1"]
    assert len(catalogue.hits) == 1


async def test_a_post_is_not_retried_when_its_instance_refuses_connections(
    peers_with_a_dead_first_instance: tuple[PeerClient, FakeDiscovery], catalogue: Catalogue
) -> None:
    client, discovery = peers_with_a_dead_first_instance

    with pytest.raises(PeerError, match="could not reach catalogue for POST /product/RD-1") as raised:
        await client.post("catalogue", "/product/RD-1", json={"qty": 1})

    assert type(raised.value) is PeerError
    assert raised.value.status == 502
    assert catalogue.hits == []
    assert [i.id for i in discovery.failures] == ["catalogue-1"]


async def test_a_get_gives_up_after_two_instances_refuse() -> None:
    discovery = FakeDiscovery([instance(unused_port(), 1), instance(unused_port(), 2), instance(unused_port(), 3)])
    client = await started(discovery)
    try:
        with pytest.raises(PeerError, match="could not reach catalogue"):
            await client.get("catalogue", "/product/RD-1")
    finally:
        await client.close()

    assert len(discovery.failures) == 2
    assert len(set(discovery.failures)) == 2


async def test_a_slow_upstream_is_a_peer_timeout(catalogue: Catalogue) -> None:
    client = await started(FakeDiscovery([instance(catalogue.port)]), timeout_s=5.0)
    try:
        began = time.monotonic()
        with pytest.raises(PeerTimeout, match="catalogue did not answer GET /slow in time"):
            await client.get("catalogue", "/slow", timeout_s=0.2)
        elapsed = time.monotonic() - began
    finally:
        await client.close()

    assert elapsed < 2.0
    assert len(catalogue.hits) == 1


async def test_the_default_deadline_applies_when_a_call_sets_none(catalogue: Catalogue) -> None:
    client = await started(FakeDiscovery([instance(catalogue.port)]), timeout_s=0.2)
    try:
        with pytest.raises(PeerTimeout):
            await client.get("catalogue", "/slow")
    finally:
        await client.close()


async def test_request_and_correlation_ids_are_propagated_from_the_request_context(catalogue: Catalogue) -> None:
    client = await started(FakeDiscovery([instance(catalogue.port)]))
    tokens = (context.request_id.set("req-42"), context.correlation_id.set("checkout-7"))
    try:
        await client.get("catalogue", "/product/RD-1", headers={"Accept": "application/json"})
    finally:
        context.correlation_id.reset(tokens[1])
        context.request_id.reset(tokens[0])
        await client.close()

    _, _, headers, _ = catalogue.hits[0]
    assert headers["X-Request-ID"] == "req-42"
    assert headers["X-Correlation-ID"] == "checkout-7"
    assert headers["Accept"] == "application/json"


async def test_no_id_headers_are_invented_outside_a_request(catalogue: Catalogue) -> None:
    client = await started(FakeDiscovery([instance(catalogue.port)]))
    try:
        await client.get("catalogue", "/product/RD-1")
    finally:
        await client.close()

    _, _, headers, _ = catalogue.hits[0]
    assert "X-Request-ID" not in headers
    assert "X-Correlation-ID" not in headers


async def test_a_json_body_reaches_the_upstream(catalogue: Catalogue) -> None:
    client = await started(FakeDiscovery([instance(catalogue.port)]))
    try:
        response = await client.post("catalogue", "/product/RD-1", json={"qty": 2, "user": "stan"})
    finally:
        await client.close()

    assert response.status == 200
    method, path, headers, body = catalogue.hits[0]
    assert (method, path) == ("POST", "/product/RD-1")
    assert headers["Content-Type"].startswith("application/json")
    assert body == b'{"qty":2,"user":"stan"}'


@pytest.mark.parametrize(("sku", "status"), [("MISSING", 404), ("BROKEN", 503)])
async def test_non_2xx_statuses_are_returned_not_raised_nor_retried(
    catalogue: Catalogue, sku: str, status: int
) -> None:
    discovery = FakeDiscovery([instance(catalogue.port, 1), instance(catalogue.port, 2)])
    client = await started(discovery)
    try:
        response = await client.get("catalogue", f"/product/{sku}")
    finally:
        await client.close()

    assert response.status == status
    assert len(catalogue.hits) == 1
    assert discovery.failures == []
    if status == 404:
        assert response.text == "SKU not found"
        assert response.headers["Content-Type"].startswith("text/plain")


async def test_an_unknown_peer_is_unavailable() -> None:
    client = await started(FakeDiscovery([]))
    try:
        with pytest.raises(PeerUnavailable):
            await client.get("payment", "/health")
    finally:
        await client.close()


# --- the circuit breaker per peer ---------------------------------------------------------------------------


async def test_a_peer_that_keeps_failing_opens_its_circuit_and_calls_fail_fast(catalogue: Catalogue) -> None:
    client = PeerClient(FakeDiscovery([instance(catalogue.port)]), breaker_threshold=3, breaker_reset_s=60.0)
    await client.start()
    try:
        statuses = [(await client.get("catalogue", "/product/BROKEN")).status for _ in range(3)]
        with pytest.raises(PeerUnavailable, match="circuit open"):
            await client.get("catalogue", "/product/RD-1")
    finally:
        await client.close()

    assert statuses == [503, 503, 503]
    assert len(catalogue.hits) == 3
    assert client.breakers["catalogue"].state == BreakerState.OPEN


async def test_answers_that_are_not_failures_keep_the_circuit_closed(catalogue: Catalogue) -> None:
    client = PeerClient(FakeDiscovery([instance(catalogue.port)]), breaker_threshold=2, breaker_reset_s=60.0)
    await client.start()
    try:
        for sku in ("BROKEN", "MISSING", "BROKEN", "RD-1", "BROKEN"):
            await client.get("catalogue", f"/product/{sku}")
        response = await client.get("catalogue", "/product/RD-1")
    finally:
        await client.close()

    assert response.status == 200
    assert client.breakers["catalogue"].state == BreakerState.CLOSED


async def test_each_peer_service_has_its_own_circuit(catalogue: Catalogue) -> None:
    ratings = Instance("ratings-1", "ratings", "127.0.0.1", catalogue.port)
    client = PeerClient(FakeDiscovery([instance(catalogue.port), ratings]), breaker_threshold=1, breaker_reset_s=60.0)
    await client.start()
    try:
        await client.get("catalogue", "/product/BROKEN")
        response = await client.get("ratings", "/product/RD-1")
    finally:
        await client.close()

    assert response.status == 200


async def test_an_open_circuit_lets_one_trial_call_through_after_the_reset_time(catalogue: Catalogue) -> None:
    client = PeerClient(FakeDiscovery([instance(catalogue.port)]), breaker_threshold=1, breaker_reset_s=0.05)
    await client.start()
    try:
        await client.get("catalogue", "/product/BROKEN")
        deadline = time.monotonic() + 2.0
        while True:
            try:
                response = await client.get("catalogue", "/product/RD-1")
                break
            except PeerUnavailable:
                assert time.monotonic() < deadline, "the circuit never half-opened"
                await asyncio.sleep(0.01)
    finally:
        await client.close()

    assert response.status == 200
    assert client.breakers["catalogue"].state == BreakerState.CLOSED


async def test_a_cancelled_trial_call_does_not_wedge_the_circuit(catalogue: Catalogue) -> None:
    client = PeerClient(FakeDiscovery([instance(catalogue.port)]), breaker_threshold=1, breaker_reset_s=0.0)
    await client.start()
    try:
        await client.get("catalogue", "/product/BROKEN")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.get("catalogue", "/slow"), timeout=0.1)
        catalogue.release.set()
        response = await client.get("catalogue", "/product/RD-1")
    finally:
        await client.close()

    assert response.status == 200


# --- an upstream that breaks off its answer -----------------------------------------------------------------


@pytest.fixture
async def truncating_catalogue() -> AsyncIterator[int]:
    """An upstream that promises 100 bytes of body, sends 7 and hangs up."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"sku":')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()


async def test_a_truncated_answer_is_a_peer_error(truncating_catalogue: int) -> None:
    client = PeerClient(FakeDiscovery([instance(truncating_catalogue)]), breaker_threshold=1, breaker_reset_s=60.0)
    await client.start()
    try:
        with pytest.raises(PeerError):
            await client.get("catalogue", "/product/RD-1")
    finally:
        await client.close()

    assert client.breakers["catalogue"].state == BreakerState.OPEN


# The fake above must behave like the real adapter where the peer client depends on it.


@pytest.fixture(params=["fake", "registry"])
async def two_catalogue_instances(
    request: pytest.FixtureRequest, fake_registry: FakeRegistry
) -> AsyncIterator[Discovery]:
    instances = [instance(8101, 1), instance(8102, 2)]
    discovery: Discovery
    if request.param == "fake":
        discovery = FakeDiscovery(instances)
    else:
        fake_registry.rows["catalogue"] = [health_row("catalogue", i.id, i.port) for i in instances]
        discovery = RegistryDiscovery(fake_registry.url, ttl_s=60.0)
    async with aiohttp.ClientSession() as session:
        await discovery.start(session)
        yield discovery


async def test_discovery_contract_round_robin_and_dropping_a_failed_instance(
    two_catalogue_instances: Discovery,
) -> None:
    discovery = two_catalogue_instances

    first, second, third = [await discovery.pick("catalogue") for _ in range(3)]
    assert {first.id, second.id} == {"catalogue-1", "catalogue-2"}
    assert third == first

    discovery.report_failure(first)

    assert await discovery.instances("catalogue") == [second]
    assert await discovery.pick("catalogue") == second
    discovery.report_failure(second)
    with pytest.raises(PeerUnavailable):
        await discovery.pick("catalogue")
    with pytest.raises(PeerUnavailable):
        await discovery.pick("ratings")
