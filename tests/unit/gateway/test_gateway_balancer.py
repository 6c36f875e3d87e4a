"""Resilient load balancing: round robin, least outstanding, outlier ejection, breakers, retry budget, deadlines."""

from __future__ import annotations

import asyncio

import httpx
from aiohttp import web

from roboshop.gateway.balancer import OutlierPolicy, RetryBudget, ServiceBalancer
from roboshop.kit.breaker import CircuitBreaker
from roboshop.kit.discovery import Instance

from .conftest import MakeSettings
from .servers import WebServer, echo_service, port_of, registry, running_gateway, shop_with, unused_port, wait_for

A, B, C = (Instance(f"catalogue-{n}", "catalogue", "127.0.0.1", 9000 + n) for n in (1, 2, 3))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def balancer(balance: str = "round_robin", clock: Clock | None = None) -> ServiceBalancer:
    return ServiceBalancer(
        "catalogue",
        "least_outstanding" if balance == "least_outstanding" else "round_robin",
        OutlierPolicy(failures=3, ejection_s=10.0),
        CircuitBreaker(5, 5.0),
        clock or Clock(),
    )


def test_round_robin_takes_the_instances_in_turn() -> None:
    lb = balancer()
    assert [lb.choose([A, B, C]) for _ in range(6)] == [A, B, C, A, B, C]


def test_least_outstanding_prefers_the_instance_with_the_fewest_requests_in_flight() -> None:
    lb = balancer("least_outstanding")
    for _ in range(3):
        lb.begin(A)
    lb.begin(B)
    assert {lb.choose([A, B, C]) for _ in range(4)} == {C}
    lb.begin(C)
    lb.begin(C)
    assert lb.choose([A, B, C]) == B


def test_an_instance_failing_in_a_row_is_ejected_for_a_while_then_for_longer() -> None:
    clock = Clock()
    lb = balancer(clock=clock)
    for _ in range(3):
        lb.end(A, lb.begin(A), ok=False)
    assert A not in {lb.choose([A, B]) for _ in range(10)}
    clock.now += 10.1
    assert A in {lb.choose([A, B]) for _ in range(4)}
    for _ in range(3):
        lb.end(A, lb.begin(A), ok=False)
    clock.now += 10.1  # a second ejection in a row lasts twice as long
    assert A not in {lb.choose([A, B]) for _ in range(10)}
    clock.now += 10.0
    lb.end(A, lb.begin(A), ok=True)
    assert lb.state(A).ejections == 0


def test_a_success_in_between_resets_the_count_of_failures() -> None:
    lb = balancer()
    for ok in (False, False, True, False, False):
        lb.end(A, lb.begin(A), ok=ok)
    assert A in {lb.choose([A, B]) for _ in range(4)}


def test_when_every_instance_is_ejected_they_are_all_used_again() -> None:
    lb = balancer()
    for instance in (A, B):
        for _ in range(3):
            lb.end(instance, lb.begin(instance), ok=False)
    assert {lb.choose([A, B]) for _ in range(4)} == {A, B}


def test_untried_instances_come_first_and_tried_ones_after() -> None:
    lb = balancer()
    assert {lb.choose([A, B, C], exclude=[A, B]) for _ in range(3)} == {C}
    assert lb.choose([A], exclude=[A]) == A


def test_the_retry_budget_allows_a_fifth_of_the_requests_more() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.2, min_per_s=0.0, clock=clock)
    while budget.withdraw():  # spend the starting reserve
        pass
    for _ in range(100):
        budget.deposit()
    allowed = 0
    while budget.withdraw():
        allowed += 1
    assert allowed == 20


def test_the_retry_budget_refills_slowly_when_quiet() -> None:
    clock = Clock()
    budget = RetryBudget(ratio=0.2, min_per_s=10.0, clock=clock)
    while budget.withdraw():
        pass
    clock.now += 0.5
    allowed = 0
    while budget.withdraw():
        allowed += 1
    assert allowed == 5


async def test_the_breaker_opens_after_failing_requests_and_recovers_through_a_half_open_trial(
    make_settings: MakeSettings,
) -> None:
    healthy = asyncio.Event()
    calls: list[str] = []

    async def products(request: web.Request) -> web.Response:
        calls.append(request.path)
        if healthy.is_set():
            return web.json_response([{"sku": "Watson"}])
        return web.Response(status=503, text="down for maintenance")

    app = web.Application()
    app.router.add_get("/products", products)
    async with WebServer(app) as upstream:
        settings = make_settings(
            peers={"catalogue": upstream.url}, breaker_failures=3, breaker_reset_s=0.5, outlier_failures=100
        )
        async with running_gateway(settings) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
            failing = [(await client.get("/api/catalogue/products")).status_code for _ in range(3)]
            refused = await client.get("/api/catalogue/products")
            assert len(calls) == 3  # the open circuit answered without calling the service
            assert gateway.app.balancer is not None
            breaker = gateway.app.balancer.services["catalogue"].breaker
            assert breaker.state == "open"
            healthy.set()
            await wait_for(lambda: breaker.retry_after_s() == 0, "the circuit to allow a trial")
            trial = await client.get("/api/catalogue/products")
            after = await client.get("/api/catalogue/products")
    assert failing == [503, 503, 503]
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["detail"] == "catalogue is failing: the gateway stopped calling it for now"
    assert (trial.status_code, after.status_code) == (200, 200)
    assert breaker.state == "closed"
    assert len(calls) == 5


async def test_the_remaining_deadline_goes_up_and_a_callers_own_is_replaced(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "cart") as shop:  # the cart's timeout_s is 0.5 s
        await shop.client.get("/api/cart/cart/anonymous-1", headers={"X-RoboShop-Deadline-Ms": "999999"})
    [deadline] = shop.upstream.seen[0].header("x-roboshop-deadline-ms")
    assert 0 < int(deadline) <= 500


async def test_a_dead_instance_is_ejected_and_requests_keep_succeeding(make_settings: MakeSettings) -> None:
    async with echo_service("catalogue") as (catalogue, url):
        dead_port = unused_port()
        instances = {"catalogue": [("catalogue-1", dead_port), ("catalogue-2", port_of(url))]}
        async with registry(instances) as registry_url:
            # The registry keeps listing the dead instance as passing (its check has not failed yet), and
            # discovery refreshes often: only the gateway's own ejection keeps requests away from it.
            settings = make_settings(
                discovery="registry", registry_url=registry_url, discovery_cache_ttl_s=0.02, outlier_failures=2
            )
            async with running_gateway(settings) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
                statuses = []
                for _ in range(30):
                    statuses.append((await client.get("/api/catalogue/products")).status_code)
                    await asyncio.sleep(0.01)
                assert gateway.app.balancer is not None
                dead = gateway.app.balancer.services["catalogue"].state(
                    Instance("catalogue-1", "catalogue", "127.0.0.1", dead_port)
                )
    assert statuses == [200] * 30
    assert dead.ejections == 1
    assert dead.requests == 2  # two refusals, each retried on the live instance, then no more
    assert len(catalogue.seen) == 30
