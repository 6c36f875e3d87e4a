"""A fake cart service for shipping's tests: cart's ``POST /shipping/{id}``, served by aiohttp on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import httpx
from aiohttp import web

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]

CART_WITH_SHIPPING = (
    b'{"total":2036.2,"tax":339.36666666666656,"items":['
    b'{"qty":1,"sku":"Watson","name":"Watson","price":2001,"subtotal":2001},'
    b'{"qty":1,"sku":"SHIP","name":"shipping to United Kingdom London","price":35.2,"subtotal":35.2}]}'
)


@dataclass
class CartCall:
    path: str
    content_type: str
    body: bytes


@dataclass
class FakeCart:
    """Cart's ``POST /shipping/{id}``: records each call and answers ``status`` with ``body``."""

    status: int = 200
    body: bytes = CART_WITH_SHIPPING
    calls: list[CartCall] = field(default_factory=list)
    url: str = ""

    async def add_shipping(self, request: web.Request) -> web.Response:
        self.calls.append(CartCall(request.path, request.content_type, await request.read()))
        content_type = "application/json" if self.status == 200 else "text/html"
        return web.Response(status=self.status, body=self.body, content_type=content_type)
