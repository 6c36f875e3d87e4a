"""Edge safety: header and per-route body limits, CORS per route, response headers per route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from roboshop.gateway.routing import RouteTableError, parse_route_table

from .conftest import MakeSettings
from .servers import raw_request, shop_with

ROUTES = """
services:
  catalogue:
    routes:
      - methods: [GET]
        path: /products
        cors: {origins: ["https://shop.example.com"], headers: [Content-Type], credentials: true, max_age_s: 60}
        response_headers: {X-Frame-Options: DENY, X-Upstream: replaced-by-the-gateway}
      - {methods: [GET], path: /categories}
  payment:
    routes:
      - {methods: [POST], path: "/pay/{id}", max_body_bytes: 100}
      - {methods: [POST], path: "/refund/{id}"}
"""


@pytest.fixture
def edge_routes(tmp_path: Path) -> Path:
    path = tmp_path / "edge-routes.yaml"
    path.write_text(ROUTES)
    return path


async def test_oversized_request_headers_are_refused_with_431(make_settings: MakeSettings, edge_routes: Path) -> None:
    async with shop_with(make_settings, "catalogue", routes_file=edge_routes, max_header_bytes=2048) as shop:
        huge = await shop.client.get("/api/catalogue/categories", headers={"X-Padding": "x" * 4096})
        fine = await shop.client.get("/api/catalogue/categories", headers={"X-Padding": "x" * 512})
    assert huge.status_code == 431
    assert huge.headers["content-type"] == "application/problem+json"
    assert fine.status_code == 200
    assert len(shop.upstream.seen) == 1


async def test_a_route_can_have_a_smaller_body_limit_than_the_gateway(
    make_settings: MakeSettings, edge_routes: Path
) -> None:
    async with shop_with(make_settings, "payment", routes_file=edge_routes) as shop:
        over = await shop.client.post("/api/payment/pay/anonymous-1", content=b"x" * 101)
        within = await shop.client.post("/api/payment/pay/anonymous-1", content=b"x" * 100)
        elsewhere = await shop.client.post("/api/payment/refund/anonymous-1", content=b"x" * 101)
        chunked = await raw_request(
            shop.gateway.port,
            "POST /api/payment/pay/anonymous-2 HTTP/1.1\nHost: shop\nTransfer-Encoding: chunked",
            b"c8\r\n" + b"y" * 200 + b"\r\n0\r\n\r\n",
        )
    assert over.status_code == 413
    assert over.json()["detail"] == "request body is larger than the limit of 100 bytes"
    assert within.status_code == 200
    assert elsewhere.status_code == 200
    assert chunked.status == 413
    assert [seen.body_length for seen in shop.upstream.seen] == [100, 101]


async def test_cors_headers_go_only_to_a_listed_origin(make_settings: MakeSettings, edge_routes: Path) -> None:
    async with shop_with(make_settings, "catalogue", routes_file=edge_routes) as shop:
        listed = await shop.client.get("/api/catalogue/products", headers={"Origin": "https://shop.example.com"})
        other = await shop.client.get("/api/catalogue/products", headers={"Origin": "https://evil.example.com"})
        no_cors_route = await shop.client.get(
            "/api/catalogue/categories", headers={"Origin": "https://shop.example.com"}
        )
    assert listed.headers["access-control-allow-origin"] == "https://shop.example.com"
    assert listed.headers["access-control-allow-credentials"] == "true"
    assert "Origin" in listed.headers.get_list("vary")
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in no_cors_route.headers


async def test_a_preflight_is_answered_by_the_gateway(make_settings: MakeSettings, edge_routes: Path) -> None:
    preflight = {"Origin": "https://shop.example.com", "Access-Control-Request-Method": "GET"}
    async with shop_with(make_settings, "catalogue", routes_file=edge_routes) as shop:
        allowed = await shop.client.options("/api/catalogue/products", headers=preflight)
        refused = await shop.client.options(
            "/api/catalogue/products", headers={**preflight, "Origin": "https://evil.example.com"}
        )
        no_cors = await shop.client.options("/api/catalogue/categories", headers=preflight)
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-methods"] == "GET, HEAD"
    assert allowed.headers["access-control-allow-headers"] == "Content-Type"
    assert allowed.headers["access-control-max-age"] == "60"
    assert refused.status_code == 204
    assert "access-control-allow-origin" not in refused.headers
    assert no_cors.status_code == 405
    assert shop.upstream.seen == []


async def test_response_headers_of_a_route_are_added_and_replace_the_services(
    make_settings: MakeSettings, edge_routes: Path
) -> None:
    async with shop_with(make_settings, "catalogue", routes_file=edge_routes) as shop:
        response = await shop.client.get("/api/catalogue/products")
        other = await shop.client.get("/api/catalogue/categories")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers.get_list("x-upstream") == ["replaced-by-the-gateway"]
    assert "x-frame-options" not in other.headers
    assert other.headers["x-upstream"] == "catalogue"


@pytest.mark.parametrize(
    ("route", "field", "says"),
    [
        ({"cors": {"origins": ["shop.example.com"]}}, "cors.origins", "is not an origin"),
        ({"cors": {"origins": ["*"], "credentials": True}}, "cors", "credentials cannot be allowed for any origin"),
        ({"response_headers": {"X-Bad": "a\r\nSet-Cookie: x=1"}}, "response_headers", "without line breaks"),
        ({"response_headers": {"Bad Name": "x"}}, "response_headers", "is not a header name"),
        ({"max_body_bytes": 0}, "max_body_bytes", "greater than 0"),
    ],
)
def test_an_invalid_edge_plugin_is_reported_with_its_entry_and_field(
    route: dict[str, Any], field: str, says: str
) -> None:
    entry = {"methods": ["GET"], "path": "/products", **route}
    with pytest.raises(RouteTableError) as caught:
        parse_route_table({"services": {"catalogue": {"routes": [entry]}}}, source="routes.yaml")
    assert f"services.catalogue.routes[0] (/products).{field}" in str(caught.value)
    assert says in str(caught.value)
