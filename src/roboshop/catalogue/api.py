"""The catalogue's Robot Shop compatible routes (``/api/catalogue/...`` through the gateway).

Bodies are the original's: product documents as JSON, errors as plain text (Decision Q3), including the
``database not avaiable`` [sic] of the listing routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from roboshop.catalogue.domain import Product, key_problem, parse_search, search_problem
from roboshop.catalogue.settings import CatalogueSettings
from roboshop.catalogue.store import ProductStore
from roboshop.kit.app import from_state
from roboshop.kit.database import StoreUnavailable
from roboshop.kit.errors import BadRequest, InternalError, NotFound

HEALTH_TIMEOUT_S = 1.0
NOT_AVAILABLE = "database not available"
NOT_AVAIABLE = "database not avaiable"  # [sic]: the original's text on /products and /products/{category}

router = APIRouter()


class ProductRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id", description="24 hex digits, like a Mongo ObjectId")
    sku: str
    name: str
    description: str
    price: int
    instock: int
    categories: list[str]


class CatalogueHealth(BaseModel):
    app: str = "OK"
    mongo: bool = Field(description="whether the database answered (the name is Robot Shop's)")


Store = Annotated[ProductStore, Depends(from_state("store"))]
Settings = Annotated[CatalogueSettings, Depends(from_state("settings"))]


@router.get("/health", response_model=CatalogueHealth)
async def health(store: Store) -> Response:
    """Liveness in Robot Shop's shape; ``mongo`` says whether the database answered. Always 200."""
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            await store.ping()
    except Exception:
        answered = False
    else:
        answered = True
    return _json({"app": "OK", "mongo": answered})


@router.get("/products", response_model=list[ProductRead])
async def all_products(store: Store) -> Response:
    """Every product, in natural order."""
    with _database(NOT_AVAIABLE):
        found = await store.all_products()
    return _products(found)


@router.get("/product/{sku}", response_model=ProductRead, responses={404: {"description": "SKU not found"}})
async def product(sku: str, store: Store, settings: Settings) -> Response:
    """One product. ``GO_SLOW`` delays this route (fault injection)."""
    _check_key(sku, "sku")
    if settings.go_slow_ms:
        await asyncio.sleep(settings.go_slow_ms / 1000)
    with _database(NOT_AVAILABLE):
        found = await store.product(sku)
    if found is None:
        raise NotFound("SKU not found", text=True)
    return _json(found.to_wire())


@router.get("/products/{category}", response_model=list[ProductRead])
async def products_in_category(category: str, store: Store) -> Response:
    """The products of a category sorted by name; ``[]`` for an unknown category."""
    _check_key(category, "category")
    with _database(NOT_AVAIABLE):
        found = await store.in_category(category)
    return _products(found)


@router.get("/categories", response_model=list[str])
async def categories(store: Store) -> Response:
    """Every category, sorted."""
    with _database(NOT_AVAILABLE):
        found = await store.categories()
    return _json(found)


@router.get("/search/{text}", response_model=list[ProductRead])
async def search(text: str, store: Store) -> Response:
    """Products whose name or description has any of the words (English stems; ``-word`` excludes)."""
    problem = search_problem(text)
    if problem is not None:
        raise BadRequest(problem, text=True)
    with _database(NOT_AVAILABLE):
        found = await store.search(parse_search(text))
    return _products(found)


def _check_key(value: str, what: str) -> None:
    problem = key_problem(value, what)
    if problem is not None:
        raise BadRequest(problem, text=True)


@contextmanager
def _database(message: str) -> Iterator[None]:
    try:
        yield
    except StoreUnavailable as exc:
        raise InternalError(message, text=True) from exc


def _products(found: list[Product]) -> Response:
    return _json([product.to_wire() for product in found])


def _json(content: Any) -> Response:
    # A ready-made response skips FastAPI's re-validation; response_model above still documents the shape.
    return Response(orjson.dumps(content), media_type="application/json")
