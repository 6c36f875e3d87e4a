"""What ratings asks the catalogue: does this SKU exist? The :class:`ProductCatalogue` port and its adapter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol
from urllib.parse import quote

from roboshop.kit.errors import PeerError
from roboshop.kit.peer import PeerClient


class ProductCatalogue(Protocol):
    async def has_product(self, sku: str) -> bool:
        """True if the catalogue knows ``sku``, False if it says it does not.

        Raises a :class:`~roboshop.kit.errors.PeerError` when the catalogue cannot tell (unreachable,
        too slow, or failing).
        """
        ...


class PeerProductCatalogue:
    """Asks a catalogue instance, found through discovery, with ``GET /product/{sku}``."""

    def __init__(self, peers: PeerClient) -> None:
        self._peers = peers

    async def has_product(self, sku: str) -> bool:
        response = await self._peers.get("catalogue", f"/product/{quote(sku, safe='')}")
        if response.status == 200:
            return True
        if response.status == 404:
            return False
        raise PeerError(f"catalogue answered {response.status} when asked for a product")


class InMemoryProductCatalogue:
    """The fake for unit tests: a fixed set of SKUs, or the peer failure to raise instead."""

    def __init__(self, skus: Iterable[str] = (), *, failure: PeerError | None = None) -> None:
        self.skus = set(skus)
        self.failure = failure
        self.asked: list[str] = []

    async def has_product(self, sku: str) -> bool:
        self.asked.append(sku)
        if self.failure is not None:
            raise self.failure
        return sku in self.skus
