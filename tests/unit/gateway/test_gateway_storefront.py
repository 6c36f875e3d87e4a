"""The storefront's static files through the running gateway: types, validators, traversal, SPA fallback."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from roboshop.gateway.settings import packaged_web_root

from .conftest import INDEX_HTML, SECRET, MakeSettings
from .servers import raw_request, running_gateway, shop_with

PROBLEM = "application/problem+json"


async def test_the_root_serves_index_html_as_html_that_is_always_revalidated(make_settings: MakeSettings) -> None:
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.content == INDEX_HTML
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["etag"]
    assert response.headers["last-modified"].endswith("GMT")


async def test_a_stylesheet_is_served_as_css(make_settings: MakeSettings) -> None:
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get("/css/style.css")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.text == "body { color: #123; }\n"


async def test_a_browser_that_has_the_current_file_gets_304(make_settings: MakeSettings) -> None:
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        first = await client.get("/css/style.css")
        by_etag = await client.get("/css/style.css", headers={"If-None-Match": f"W/{first.headers['etag']}"})
        by_date = await client.get("/css/style.css", headers={"If-Modified-Since": first.headers["last-modified"]})
        stale = await client.get("/css/style.css", headers={"If-None-Match": '"an-older-version"'})
    assert (by_etag.status_code, by_etag.content) == (304, b"")
    assert by_etag.headers["etag"] == first.headers["etag"]
    assert by_date.status_code == 304
    assert stale.status_code == 200
    assert stale.text == first.text


async def test_a_changed_file_is_served_fresh_with_a_new_etag(make_settings: MakeSettings, web_root: Path) -> None:
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        before = await client.get("/css/style.css")
        stylesheet = web_root / "css" / "style.css"
        stylesheet.write_text("body { color: #456; margin: 0; }\n")
        stat = stylesheet.stat()
        os.utime(stylesheet, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        after = await client.get("/css/style.css", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200
    assert after.text == "body { color: #456; margin: 0; }\n"
    assert after.headers["etag"] != before.headers["etag"]


async def test_head_answers_the_headers_without_the_body(make_settings: MakeSettings) -> None:
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.head("/index.html")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(INDEX_HTML))
    assert response.content == b""


async def test_a_large_file_is_served_whole(make_settings: MakeSettings, web_root: Path) -> None:
    video = bytes(range(256)) * 8192  # 2 MiB: streamed from disk, not cached
    (web_root / "media").mkdir()
    (web_root / "media" / "demo.webp").write_bytes(video)
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get("/media/demo.webp")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    assert response.content == video


@pytest.mark.parametrize("path", ["/product/Watson", "/cart", "/search/robot/arm", "/missing.css", "/.env"])
async def test_an_unknown_page_falls_back_to_index_html_for_the_browser_app(
    make_settings: MakeSettings, path: str
) -> None:
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.content == INDEX_HTML
    assert response.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/api/nosuchservice/product/Watson", "/api/catalogue/product", "/api"])
async def test_an_api_path_never_falls_back_to_the_storefront(make_settings: MakeSettings, path: str) -> None:
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert "no public route" in response.json()["detail"]


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/css/..%2f..%2fsecret.txt",
        "/css/%2E%2E/%2E%2E/secret.txt",
        "/..%5csecret.txt",
        "/secret.txt%00.html",
        "/css/../../secret.txt",
    ],
)
async def test_no_path_reaches_a_file_outside_the_web_root(make_settings: MakeSettings, target: str) -> None:
    async with running_gateway(make_settings()) as gateway:
        response = await raw_request(gateway.port, f"GET {target} HTTP/1.1\nHost: shop")
    assert response.status == 400
    assert SECRET not in response.body


async def test_a_symlink_out_of_the_web_root_is_not_followed(make_settings: MakeSettings, web_root: Path) -> None:
    (web_root / "leak.txt").symlink_to(web_root.parent / "secret.txt")
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get("/leak.txt")
    assert SECRET not in response.content
    assert response.content == INDEX_HTML


async def test_the_storefront_answers_only_get_and_head(make_settings: MakeSettings) -> None:
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.post("/index.html", content=b"x")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


async def test_without_an_index_html_an_unknown_page_is_404(make_settings: MakeSettings, web_root: Path) -> None:
    (web_root / "index.html").unlink()
    async with running_gateway(make_settings()) as gateway, httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get("/product/Watson")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_the_placeholder_storefront_lists_products_without_any_external_request() -> None:
    root = packaged_web_root()
    files = {path.relative_to(root).as_posix(): path.read_text() for path in root.rglob("*") if path.is_file()}
    assert "index.html" in files
    assert any(name.endswith(".css") for name in files)
    assert "/api/catalogue/products" in "".join(files.values())
    for name, text in files.items():
        # Every URL is same-origin: no scheme, no protocol-relative //host, no @import of a remote file.
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE), name
        assert "@import" not in text, name


async def test_the_packaged_storefront_is_served_by_default(make_settings: MakeSettings) -> None:
    async with shop_with(make_settings, web_root=packaged_web_root()) as shop:
        page = await shop.client.get("/")
        script = await shop.client.get("/js/storefront.js")
    assert page.status_code == 200
    assert "Robot Shop" in page.text
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
