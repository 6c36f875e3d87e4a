"""Aggregation: ``GET /api/products/{sku}/details`` = the product, its rating and its stock in one answer.

The catalogue and ratings are asked concurrently, through the same balancer (instances, ejection,
breakers) as proxied requests:

    200 {"product": {...}, "rating": {"avg_rating", "rating_count"}, "stock": {"instock", "available"}}
    ratings failing     200 with "rating": null, "partial": true, "errors": {"rating": "<why>"}
    unknown SKU         404 (what the catalogue says)
    catalogue failing   502 / 503 / 504: without the product there is nothing to show

The route is built in (not in routes.yaml) but wrapped by the same policies as any route (rate limits).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson

from roboshop.gateway.balancer import Balancer
from roboshop.gateway.exchange import Exchange
from roboshop.gateway.proxy import DEADLINE_HEADER
from roboshop.gateway.routing import API_PREFIX, Route, param_ok
from roboshop.kit.errors import PeerUnavailable

PREFIX = API_PREFIX + "products/"
SUFFIX = "/details"
CATALOGUE = "catalogue"
RATINGS = "ratings"
_JSON = (b"content-type", b"application/json")


def details_route(timeout_s: float) -> Route:
    return Route(
        service="products",
        template="/{sku}/details",
        methods=frozenset({"GET", "HEAD"}),
        timeout_s=timeout_s,
        label=PREFIX + "{sku}" + SUFFIX,
        _params=((1, "sku"),),
    )


def match_details(raw_path: str) -> str | None:
    """The raw ``{sku}`` segment of a details path, or None when ``raw_path`` is not one."""
    if not raw_path.startswith(PREFIX) or not raw_path.endswith(SUFFIX):
        return None
    sku = raw_path[len(PREFIX) : -len(SUFFIX)]
    return sku if "/" not in sku and param_ok(sku) else None


class UpstreamFailure(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Aggregator:
    def __init__(self, session: aiohttp.ClientSession, balancer: Balancer, *, connect_timeout_s: float) -> None:
        self._session = session
        self._balancer = balancer
        self._connect_timeout_s = connect_timeout_s

    async def __call__(self, ex: Exchange) -> None:
        route = ex.route
        assert route is not None
        sku = ex.rest.split("/")[1]
        deadline = ex.started + route.timeout_s
        product_call = self._get_json(CATALOGUE, f"/product/{sku}", deadline, ex.request_id)
        rating_call = self._get_json(RATINGS, f"/api/fetch/{sku}", deadline, ex.request_id)
        results: list[object] = list(await asyncio.gather(product_call, rating_call, return_exceptions=True))
        product, rating = results
        if isinstance(product, BaseException):
            if not isinstance(product, UpstreamFailure):
                raise product
            await ex.problem(product.status, product.detail)
            return
        body: dict[str, Any] = {"product": product, "rating": None, "stock": _stock(product)}
        if isinstance(rating, UpstreamFailure):
            body["partial"] = True
            body["errors"] = {"rating": rating.detail}
        elif isinstance(rating, BaseException):
            raise rating
        else:
            body["rating"] = rating
        await ex.respond(200, orjson.dumps(body), [_JSON])

    async def _get_json(self, service: str, path: str, deadline: float, request_id: str) -> object:
        balancers = self._balancer.services
        if service not in balancers:
            raise UpstreamFailure(503, f"{service} is not in the route table")
        balancer = balancers[service]
        if not balancer.breaker.allow():
            raise UpstreamFailure(503, f"{service} is failing: the gateway stopped calling it for now")
        try:
            instance = await self._balancer.pick(service)
        except PeerUnavailable as exc:
            raise UpstreamFailure(503, str(exc)) from exc
        assert instance is not None
        remaining = deadline - time.perf_counter()
        timeout = aiohttp.ClientTimeout(total=remaining, connect=min(self._connect_timeout_s, remaining))
        headers = {DEADLINE_HEADER: str(max(1, int(remaining * 1000))), "X-Request-ID": request_id}
        state = balancer.begin(instance)
        ok = False
        try:
            async with self._session.get(instance.url + path, headers=headers, timeout=timeout) as response:
                body = await response.read()
                ok = response.status < 500
                if response.status == 404:
                    raise UpstreamFailure(404, body.decode("utf-8", "replace")[:200] or "not found")
                if response.status != 200:
                    raise UpstreamFailure(502, f"{service} answered {response.status}")
                try:
                    document: object = orjson.loads(body)
                    return document
                except orjson.JSONDecodeError as exc:
                    raise UpstreamFailure(502, f"{service} answered something other than JSON") from exc
        except TimeoutError as exc:
            raise UpstreamFailure(504, f"{service} did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamFailure(502, f"could not reach {service}") from exc
        finally:
            balancer.end(instance, state, ok=ok)
            if ok:
                balancer.breaker.record_success()
            else:
                balancer.breaker.record_failure()


def _stock(product: object) -> dict[str, Any] | None:
    instock = product.get("instock") if isinstance(product, dict) else None
    if not isinstance(instock, int):
        return None
    return {"instock": instock, "available": instock > 0}
