"""The cart service as shipping sees it: ``POST /shipping/{id}`` adds or replaces the cart's SHIP line."""

from __future__ import annotations

import logging
from typing import Any, Protocol
from urllib.parse import quote

from roboshop.kit.errors import PeerError
from roboshop.kit.peer import PeerClient

log = logging.getLogger("roboshop.shipping")


class CartService(Protocol):
    async def add_shipping(self, cart_id: str, shipping: Any) -> bytes | None:
        """The cart's JSON after it took the shipping line, as the cart sent it; ``None`` when it did not.

        ``None`` covers every failure alike (unknown cart, refused data, cart unreachable), as in Robot Shop.
        """
        ...


class PeerCartService:
    """Asks a cart instance, found through discovery."""

    def __init__(self, peers: PeerClient) -> None:
        self._peers = peers

    async def add_shipping(self, cart_id: str, shipping: Any) -> bytes | None:
        try:
            response = await self._peers.post("cart", f"/shipping/{quote(cart_id, safe='')}", json=shipping)
        except PeerError as exc:
            log.warning("cart unreachable", extra={"error": exc.detail})
            return None
        if response.status != 200:
            log.warning("cart refused shipping", extra={"status": response.status})
            return None
        return response.body
