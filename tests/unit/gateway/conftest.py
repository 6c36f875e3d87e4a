from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from roboshop.gateway.settings import GatewaySettings

from .servers import unused_port

TEST_ROUTES = """
services:
  catalogue:
    routes:
      - {methods: [GET], path: /products}
      - {methods: [GET], path: "/product/{sku}"}
      - {methods: [GET], path: "/search/{text}"}
      - {methods: [GET], path: /stream}
  ratings:
    routes:
      - {methods: [GET], path: "/api/fetch/{sku}"}
      - {methods: [PUT], path: "/api/rate/{sku}/{score}"}
  payment:
    routes:
      - {methods: [POST], path: "/pay/{id}"}
  cart:
    timeout_s: 0.5
    routes:
      - {methods: [GET], path: "/cart/{id}"}
  shipping:
    routes:
      - {methods: [GET], path: /codes}
"""
INDEX_HTML = b"<!doctype html><title>Robot Shop</title><p>the storefront shell</p>"
SECRET = b"the registry's admin password"

MakeSettings = Callable[..., GatewaySettings]


@pytest.fixture
def routes_file(tmp_path: Path) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(TEST_ROUTES)
    return path


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    """A storefront directory, with a secret file right next to it that must never be served."""
    root = tmp_path / "web"
    (root / "css").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX_HTML)
    (root / "css" / "style.css").write_text("body { color: #123; }\n")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    return root


@pytest.fixture
def make_settings(routes_file: Path, web_root: Path) -> MakeSettings:
    """Gateway settings for a test; services without a peer URL point at a port nobody listens on."""

    def make(**overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "port": 0,
            "routes_file": routes_file,
            "web_root": web_root,
            "discovery": "static",
            "peer_url_template": f"http://127.0.0.1:{unused_port()}",
        }
        values.update(overrides)
        return GatewaySettings(**values)

    return make
