"""The cart service's Robot Shop compatible routes (``/api/cart/...`` through the gateway).

Carts are Robot Shop's JSON, byte for byte; errors are its plain-text bodies (Decision Q3), and quantities
are read with JavaScript's parseInt (Q12). Beyond the original: a cart id or SKU longer than 100 characters
or holding control characters, an absurd quantity, or a shipping cost that is not a number is refused with a
400 that changes nothing. A catalogue that cannot be reached is the kit's 502/503/504 (the original: 500).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import Counter
from pydantic import BaseModel, Field

from roboshop.cart.domain import (
    Cart,
    CartError,
    CartNotFound,
    NotInCart,
    Product,
    Shipping,
    UnusableProduct,
    id_problem,
    quantity_to_add,
    quantity_to_set,
)
from roboshop.cart.store import CartStore
from roboshop.kit.app import from_state
from roboshop.kit.database import StoreUnavailable
from roboshop.kit.errors import BadRequest, DependencyError, NotFound, PeerError
from roboshop.kit.internal import InternalCaller
from roboshop.kit.peer import PeerClient

HEALTH_TIMEOUT_S = 1.0
STORE_UNAVAILABLE = "cart store not available"

router = APIRouter()


class CartItemRead(BaseModel):
    qty: int
    sku: str
    name: str
    price: float
    subtotal: float = Field(description="price x qty")


class CartRead(BaseModel):
    total: float = Field(description="the sum of the subtotals, VAT included")
    tax: float = Field(description="the VAT in the total: total - total / 1.2")
    items: list[CartItemRead]


class CartHealth(BaseModel):
    app: str = "OK"
    redis: bool = Field(description="whether the cart store answers (the name is Robot Shop's)")


Store = Annotated[CartStore, Depends(from_state("store"))]
Peers = Annotated[PeerClient, Depends(from_state("peers"))]
ItemsAdded = Annotated[Counter, Depends(from_state("items_added"))]
CartId = Annotated[str, Path(alias="id", description="the shopper's cart: an anonymous id or a user name")]
TEXT_ERROR: dict[str, Any] = {"content": {"text/html": {}}}


@router.get("/health", response_model=CartHealth)
async def health(store: Store) -> Response:
    """Liveness, in Robot Shop's shape: always 200; ``redis`` says whether the cart store answers."""
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            await store.ping()
    except Exception:
        return JSONResponse({"app": "OK", "redis": False})
    return JSONResponse({"app": "OK", "redis": True})


@router.get("/cart/{id}", response_model=CartRead, responses={404: {"description": "cart not found", **TEXT_ERROR}})
async def get_cart(cart_id: CartId, store: Store) -> Response:
    """The cart as stored."""
    _check_id("cart id", cart_id)
    with _cart_rules():
        cart = await store.get(cart_id)
    if cart is None:
        raise NotFound("cart not found", text=True)
    return _cart(cart)


@router.delete(
    "/cart/{id}",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/html": {"example": "OK"}}}, 404: {"description": "cart not found"}},
)
async def delete_cart(cart_id: CartId, store: Store, _: InternalCaller) -> Response:
    """Remove the cart (payment does, once the order is placed)."""
    _check_id("cart id", cart_id)
    with _cart_rules():
        deleted = await store.delete(cart_id)
    if not deleted:
        raise NotFound("cart not found", text=True)
    return PlainTextResponse("OK", media_type="text/html")


@router.get("/rename/{from}/{to}", response_model=CartRead, responses={404: {"description": "cart not found"}})
async def rename(
    source: Annotated[str, Path(alias="from")], target: Annotated[str, Path(alias="to")], store: Store
) -> Response:
    """Copy the cart to a new id (the shopper logged in); the old cart stays (Decision Q8)."""
    _check_id("cart id", source)
    _check_id("cart id", target)
    with _cart_rules():
        cart = await store.copy(source, target)
    if cart is None:
        raise NotFound("cart not found", text=True)
    return _cart(cart)


@router.get(
    "/add/{id}/{sku}/{qty}",
    response_model=CartRead,
    responses={
        400: {"description": "quantity must be a number; quantity has to be greater than zero", **TEXT_ERROR},
        404: {"description": "product not found; out of stock", **TEXT_ERROR},
    },
)
async def add(cart_id: CartId, sku: str, qty: str, store: Store, peers: Peers, items_added: ItemsAdded) -> Response:
    """Add ``qty`` of a product the catalogue has in stock; the cart is created if there is none."""
    _check_id("cart id", cart_id)
    _check_id("sku", sku)
    with _cart_rules():
        quantity = quantity_to_add(qty)
    product = await _product(peers, sku)
    if not product.in_stock:
        raise NotFound("out of stock", text=True)
    with _cart_rules():
        cart = await store.change(cart_id, lambda stored: (stored or Cart()).add_item(product, quantity))
    items_added.inc(quantity)
    return _cart(cart)


@router.get(
    "/update/{id}/{sku}/{qty}",
    response_model=CartRead,
    responses={
        400: {"description": "quantity must be a number; negative quantity not allowed", **TEXT_ERROR},
        404: {"description": "cart not found; not in cart", **TEXT_ERROR},
    },
)
async def update(cart_id: CartId, sku: str, qty: str, store: Store) -> Response:
    """Set the quantity of a line; 0 removes it (``/update/{id}/SHIP/0`` removes shipping)."""
    _check_id("cart id", cart_id)
    _check_id("sku", sku)
    with _cart_rules():
        quantity = quantity_to_set(qty)
        cart = await store.change(cart_id, lambda stored: _existing(stored).update_quantity(sku, quantity))
    return _cart(cart)


@router.post(
    "/shipping/{id}",
    response_model=CartRead,
    responses={400: {"description": "shipping data missing", **TEXT_ERROR}, 404: {"description": "cart not found"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["distance", "cost", "location"],
                        "properties": {
                            "distance": {"type": "number"},
                            "cost": {"type": "number"},
                            "location": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def shipping(cart_id: CartId, request: Request, store: Store, _: InternalCaller) -> Response:
    """Add or replace the cart's shipping line (the shipping service's ``/confirm`` calls this)."""
    _check_id("cart id", cart_id)
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    try:
        # Like Robot Shop's JSON body parser: a body that does not say it is JSON is no shipping data.
        document = orjson.loads(await request.body()) if media_type == "application/json" else None
    except orjson.JSONDecodeError:
        document = None
    with _cart_rules():
        details = Shipping.from_request(document)
        cart = await store.change(cart_id, lambda stored: _existing(stored).set_shipping(details))
    return _cart(cart)


async def _product(peers: PeerClient, sku: str) -> Product:
    response = await peers.get("catalogue", f"/product/{quote(sku, safe='')}")
    if response.status != 200:
        raise NotFound("product not found", text=True)
    try:
        return Product.from_catalogue(sku, response.json())
    except (orjson.JSONDecodeError, UnusableProduct) as exc:
        raise PeerError(f"catalogue answered a product the cart cannot use: {exc}") from exc


def _existing(cart: Cart | None) -> Cart:
    if cart is None:
        raise CartNotFound()
    return cart


def _check_id(kind: str, value: str) -> None:
    problem = id_problem(kind, value)
    if problem is not None:
        raise BadRequest(problem, text=True)


@contextmanager
def _cart_rules() -> Iterator[None]:
    """The cart's refusals as Robot Shop's statuses and plain-text bodies."""
    try:
        yield
    except (CartNotFound, NotInCart) as exc:
        raise NotFound(str(exc), text=True) from exc
    except CartError as exc:
        raise BadRequest(str(exc), text=True) from exc
    except StoreUnavailable as exc:
        raise DependencyError(STORE_UNAVAILABLE, text=True) from exc


def _cart(cart: Cart) -> Response:
    return Response(cart.to_json(), media_type="application/json")
