"""A fake catalogue for the cart's tests: a real aiohttp server on 127.0.0.1 answering ``GET /product/{sku}``.

The cart reaches it the way it reaches the real one, through the kit's peer client and static discovery.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from aiohttp import web

from roboshop.cart.settings import CartSettings

# Products of Robot Shop's seed data (ROBOSHOP-API.md), as the catalogue serves them.
SEED_PRODUCTS: dict[str, dict[str, Any]] = {
    "Watson": {"name": "Watson", "price": 2001, "instock": 2, "categories": ["Artificial Intelligence"]},
    "Ewooid": {"name": "Ewooid", "price": 200, "instock": 0, "categories": ["Artificial Intelligence"]},
    "HPTD": {"name": "High-Powered Travel Droid", "price": 1200, "instock": 12, "categories": ["Robot"]},
    "RMC": {"name": "Robotic Mining Cyborg", "price": 42, "instock": 48, "categories": ["Robot"]},
    "STAN-1": {"name": "Stan", "price": 67, "instock": 1000, "categories": ["Robot", "Artificial Intelligence"]},
    "CNA": {"name": "Cybernated Neutralization Android", "price": 1000, "instock": 0, "categories": ["Robot"]},
}


class FakeCatalogue:
    """The catalogue's product route, with knobs for the ways a real one fails."""

    def __init__(self) -> None:
        self.products: dict[str, Any] = {
            sku: {"_id": f"{index:024x}", "sku": sku, "description": "", **product}
            for index, (sku, product) in enumerate(copy.deepcopy(SEED_PRODUCTS).items())
        }
        self.asked: list[str] = []
        """Every product path asked for, as it arrived (still URL-encoded)."""
        self.status: int | None = None
        """Answer every request with this status and a text body instead."""
        self.delay_s = 0.0
        app = web.Application()
        app.router.add_get("/product/{sku}", self._product)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self, **overrides: Any) -> CartSettings:
        """Cart settings that find this catalogue through static discovery."""
        return CartSettings(peers={"catalogue": self.url}, **overrides)

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _product(self, request: web.Request) -> web.Response:
        self.asked.append(request.raw_path)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.status is not None:
            return web.Response(status=self.status, text="catalogue is unwell")
        product = self.products.get(request.match_info["sku"])
        if product is None:
            return web.Response(status=404, text="SKU not found")
        if isinstance(product, bytes):
            return web.Response(body=product, content_type="application/json")
        return web.json_response(product)
