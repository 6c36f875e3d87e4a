"""Proxying public routes to real upstream servers through the gateway running under uvicorn."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest

from .conftest import MakeSettings
from .servers import (
    GZIPPED,
    echo_service,
    port_of,
    raw_request,
    raw_upstream,
    registry,
    running_gateway,
    shop_with,
    unused_port,
)

PROBLEM = "application/problem+json"


async def test_a_public_route_reaches_the_service_without_the_api_prefix_and_with_its_query(
    make_settings: MakeSettings,
) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        response = await shop.client.get("/api/catalogue/product/Watson?currency=EUR&tag=a%20b&tag=c")
    assert response.status_code == 200
    assert response.json()["path"] == "/product/Watson"
    assert shop.upstream.seen[0].query == "currency=EUR&tag=a%20b&tag=c"
    assert response.headers["x-upstream"] == "catalogue"


async def test_the_percent_encoded_path_reaches_the_service_as_the_client_wrote_it(
    make_settings: MakeSettings,
) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        response = await shop.client.get("/api/catalogue/search/robot%20arm%7E%C3%A9")
    assert response.status_code == 200
    assert shop.upstream.seen[0].raw_path == "/search/robot%20arm%7E%C3%A9"


@pytest.mark.parametrize(
    "path",
    [
        "/api/catalogue/product/..",
        "/api/catalogue/product/.",
        "/api/catalogue/product/%2e%2E",
        "/api/catalogue/product/a%2F..%2F..%2Fadmin",
        "/api/catalogue/product/",
        "/api/catalogue/product/Watson/",
        "/api/catalogue//products",
        "/api/catalogue/product/Watson/../../admin",
    ],
)
async def test_a_path_that_would_reach_another_upstream_path_is_not_routed(
    make_settings: MakeSettings, path: str
) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        response = await raw_request(shop.gateway.port, f"GET {path} HTTP/1.1\nHost: shop")
    assert response.status == 404
    assert response.header("content-type") == [PROBLEM]
    assert shop.upstream.seen == []


async def test_a_post_body_method_and_end_to_end_headers_reach_the_service(make_settings: MakeSettings) -> None:
    body = b'{"total": 2001, "items": [{"sku": "Watson", "qty": 1}]}'
    async with shop_with(make_settings, "payment") as shop:
        response = await shop.client.post(
            "/api/payment/pay/anonymous-7",
            content=body,
            headers={"Content-Type": "application/json", "Cookie": "session=abc", "X-Shop-Test": "1"},
        )
    assert response.status_code == 200
    seen = shop.upstream.seen[0]
    assert (seen.method, seen.raw_path) == ("POST", "/pay/anonymous-7")
    assert (seen.body_length, seen.body_sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert seen.header("content-type") == ["application/json"]
    assert seen.header("cookie") == ["session=abc"]
    assert seen.header("x-shop-test") == ["1"]


async def test_a_multi_megabyte_put_body_is_streamed_to_the_service_as_it_arrives(
    make_settings: MakeSettings,
) -> None:
    chunk = bytes(range(256)) * 256  # 64 KiB
    chunks = 80  # 5 MiB
    expected = hashlib.sha256(chunk * chunks).hexdigest()
    async with shop_with(make_settings, "ratings", max_body_bytes=8 * 1024 * 1024) as shop:

        async def upload() -> AsyncIterator[bytes]:
            yield chunk
            # The service must see the start of the body before the client sends the rest:
            # a gateway that buffered the body would wait here forever.
            await asyncio.wait_for(shop.upstream.first_body_chunk.wait(), timeout=5)
            for _ in range(chunks - 1):
                yield chunk

        response = await shop.client.put("/api/ratings/api/rate/Watson/5", content=upload())
    assert response.status_code == 200
    assert response.json()["body_length"] == len(chunk) * chunks
    assert response.json()["body_sha256"] == expected


async def test_the_response_is_streamed_to_the_client_chunk_by_chunk(make_settings: MakeSettings) -> None:
    async with (
        shop_with(make_settings, "catalogue") as shop,
        shop.client.stream("GET", "/api/catalogue/stream") as response,
    ):
        chunks = response.aiter_raw()
        # The service holds back the rest until the client has the first part.
        first = await asyncio.wait_for(anext(chunks), timeout=5)
        shop.upstream.release.set()
        rest = b"".join([part async for part in chunks])
    assert first == b"first chunk;"
    assert rest == b"second chunk"


async def test_hop_by_hop_request_headers_stay_at_the_gateway(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        response = await raw_request(
            shop.gateway.port,
            """
            GET /api/catalogue/products HTTP/1.1
            Host: shop.example
            Connection: X-Session-Hint
            X-Session-Hint: private
            Keep-Alive: timeout=5
            Proxy-Authorization: Basic c3Rhbjpyb2JvdA==
            Proxy-Connection: keep-alive
            TE: trailers
            Trailer: X-Checksum
            X-End-To-End: kept
            """,
        )
    assert response.status == 200
    names = {name.lower() for name, _ in shop.upstream.seen[0].headers}
    dropped = {"x-session-hint", "keep-alive", "proxy-authorization", "proxy-connection", "te", "trailer"}
    assert names & dropped == set()
    assert shop.upstream.seen[0].header("x-end-to-end") == ["kept"]


async def test_hop_by_hop_response_headers_stay_at_the_gateway(make_settings: MakeSettings) -> None:
    upstream_answer = (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/json\r\n"
        b"Connection: X-Upstream-Hint, close\r\n"
        b"X-Upstream-Hint: internal\r\n"
        b"Keep-Alive: timeout=5\r\n"
        b"Proxy-Authenticate: Basic\r\n"
        b"Trailer: X-Checksum\r\n"
        b"Upgrade: h2c\r\n"
        b"X-Shipping-Zone: EU\r\n"
        b"Transfer-Encoding: chunked\r\n"
        b"\r\n"
        b'5\r\n[{"a"\r\n7\r\n: "b"}]\r\n0\r\n\r\n'
    )
    async with (
        raw_upstream(upstream_answer) as (heads, url),
        running_gateway(make_settings(peers={"shipping": url})) as gateway,
    ):
        response = await raw_request(gateway.port, "GET /api/shipping/codes HTTP/1.1\nHost: shop")
    assert response.status == 200
    assert response.body == b'[{"a": "b"}]'
    names = {name.lower() for name, _ in response.headers}
    assert names & {"x-upstream-hint", "keep-alive", "proxy-authenticate", "trailer", "upgrade"} == set()
    assert response.header("x-shipping-zone") == ["EU"]
    assert heads[0].startswith(b"GET /codes HTTP/1.1\r\n")


async def test_the_service_is_told_who_called_and_how(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        await shop.client.get(
            "/api/catalogue/products",
            headers={
                "Host": "shop.example:8080",
                "X-Forwarded-For": "156.33.241.5",
                "X-Forwarded-Proto": "gopher",
            },
        )
    seen = shop.upstream.seen[0]
    assert seen.header("x-forwarded-for") == ["156.33.241.5, 127.0.0.1"]
    assert seen.header("x-forwarded-proto") == ["http"]
    assert seen.header("x-forwarded-host") == ["shop.example:8080"]
    assert seen.header("host") == [shop.upstream_url.removeprefix("http://")]


async def test_the_gateway_adds_no_headers_of_its_own_and_passes_encoded_bodies_untouched(
    make_settings: MakeSettings,
) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        response = await raw_request(
            shop.gateway.port, "GET /api/catalogue/product/gzip HTTP/1.1\nHost: shop\nAccept-Encoding: gzip"
        )
    assert response.status == 200
    assert response.header("content-encoding") == ["gzip"]
    assert response.body == GZIPPED
    names = {name.lower() for name, _ in shop.upstream.seen[0].headers}
    assert names & {"user-agent", "accept", "content-type"} == set()
    assert shop.upstream.seen[0].header("accept-encoding") == ["gzip"]


async def test_a_cookie_set_for_one_client_is_never_sent_for_another(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        cookie = await shop.client.get("/api/catalogue/product/cookie")
        async with httpx.AsyncClient(base_url=shop.gateway.url) as another_client:
            await another_client.get("/api/catalogue/products")
    assert "alice-secret" in cookie.headers["set-cookie"]
    assert shop.upstream.seen[1].header("cookie") == []


async def test_the_session_cookie_and_authorization_reach_the_service_and_every_set_cookie_comes_back(
    make_settings: MakeSettings,
) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        response = await raw_request(
            shop.gateway.port,
            "GET /api/catalogue/product/cookies HTTP/1.1\nHost: shop\n"
            "Cookie: roboshop_session=old-session; flavour=vanilla\nAuthorization: Bearer old-session",
        )
    seen = shop.upstream.seen[0]
    assert seen.header("cookie") == ["roboshop_session=old-session; flavour=vanilla"]
    assert seen.header("authorization") == ["Bearer old-session"]
    assert response.status == 200
    cookies = response.header("set-cookie")
    assert len(cookies) == 2
    assert cookies[0].startswith("roboshop_session=a-new-session;")
    assert "httponly" in cookies[0].lower()
    assert cookies[1].startswith("flavour=mint")


async def test_a_request_id_is_generated_sent_to_the_service_and_echoed(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        response = await shop.client.get("/api/catalogue/products")
    echoed = response.headers.get_list("x-request-id")
    assert len(echoed) == 1
    assert len(echoed[0]) == 32
    assert shop.upstream.seen[0].header("x-request-id") == echoed


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("order-2024-0001", True), ("has spaces in it", False), ("x" * 129, False)],
)
async def test_a_sane_incoming_request_id_is_kept_and_any_other_replaced(
    make_settings: MakeSettings, sent: str, kept: bool
) -> None:
    async with shop_with(make_settings, "catalogue") as shop:
        response = await shop.client.get("/api/catalogue/products", headers={"X-Request-ID": sent})
    assert (response.headers["x-request-id"] == sent) is kept
    assert shop.upstream.seen[0].header("x-request-id") == [response.headers["x-request-id"]]


async def test_no_passing_instance_answers_503(make_settings: MakeSettings) -> None:
    async with registry({"catalogue": []}) as registry_url:
        settings = make_settings(discovery="registry", registry_url=registry_url)
        async with running_gateway(settings) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
            response = await client.get("/api/catalogue/products")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 503
    assert "catalogue" in response.json()["detail"]


async def test_a_refused_connection_answers_502(make_settings: MakeSettings) -> None:
    settings = make_settings(peers={"catalogue": f"http://127.0.0.1:{unused_port()}"})
    async with running_gateway(settings) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get("/api/catalogue/products")
    assert response.status_code == 502
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["title"] == "Bad Gateway"


async def test_a_get_is_retried_once_on_another_instance_when_the_first_refuses(
    make_settings: MakeSettings,
) -> None:
    async with echo_service("catalogue") as (catalogue, url):
        # Sorted by ID, the dead instance is picked first.
        instances = {"catalogue": [("catalogue-1", unused_port()), ("catalogue-2", port_of(url))]}
        async with registry(instances) as registry_url:
            settings = make_settings(discovery="registry", registry_url=registry_url)
            async with running_gateway(settings) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
                response = await client.get("/api/catalogue/products")
    assert response.status_code == 200
    assert len(catalogue.seen) == 1


async def test_a_post_is_not_retried_after_a_refused_connection(make_settings: MakeSettings) -> None:
    async with echo_service("payment") as (payment, url):
        instances = {"payment": [("payment-1", unused_port()), ("payment-2", port_of(url))]}
        async with registry(instances) as registry_url:
            settings = make_settings(discovery="registry", registry_url=registry_url)
            async with running_gateway(settings) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
                response = await client.post("/api/payment/pay/anonymous-1", json={"total": 1})
    assert response.status_code == 502
    assert payment.seen == []


async def test_a_service_slower_than_its_timeout_answers_504(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, "cart") as shop:
        started = asyncio.get_running_loop().time()
        response = await shop.client.get("/api/cart/cart/slow")
        elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 504
    assert response.headers["content-type"] == PROBLEM
    assert elapsed < 2.0  # the cart's own timeout_s (0.5 s), not the service's 3 s


async def test_a_declared_body_over_the_limit_answers_413_without_calling_the_service(
    make_settings: MakeSettings,
) -> None:
    async with shop_with(make_settings, "payment", max_body_bytes=1024) as shop:
        response = await shop.client.post("/api/payment/pay/anonymous-1", content=b"x" * 1025)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert shop.upstream.seen == []


async def test_a_streamed_body_that_passes_the_limit_answers_413(make_settings: MakeSettings) -> None:
    async def upload() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 16 * 1024
            await asyncio.sleep(0)

    async with shop_with(make_settings, "payment", max_body_bytes=256 * 1024) as shop:
        response = await shop.client.post("/api/payment/pay/anonymous-1", content=upload())
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert all(seen.body_length <= 256 * 1024 for seen in shop.upstream.seen)


async def test_an_upstream_that_answers_garbage_gets_502(make_settings: MakeSettings) -> None:
    async with (
        raw_upstream(b"this is not HTTP at all\r\n\r\n") as (_, url),
        running_gateway(make_settings(peers={"shipping": url})) as gateway,
        httpx.AsyncClient(base_url=gateway.url) as client,
    ):
        response = await client.get("/api/shipping/codes")
    assert response.status_code == 502
    assert response.headers["content-type"] == PROBLEM
    assert "invalid response" in response.json()["detail"]


async def test_an_upstream_that_breaks_off_mid_response_leaves_the_client_an_incomplete_response(
    make_settings: MakeSettings,
) -> None:
    cut_short = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"code": '
    async with (
        raw_upstream(cut_short) as (_, url),
        running_gateway(make_settings(peers={"shipping": url})) as gateway,
        httpx.AsyncClient(base_url=gateway.url) as client,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/api/shipping/codes")
        # The gateway itself carries on.
        assert (await client.get("/health")).status_code == 200
