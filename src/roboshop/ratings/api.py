"""The ratings service's Robot Shop compatible routes (``/api/ratings/...`` through the gateway).

Bodies are the original's JSON; errors are plain text (Decision Q3). Rating an unknown SKU is a 404
(Decision Q4: the original answered 500); fetching one is ``{"avg_rating":0,"rating_count":0}`` (Q5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from roboshop.kit.app import from_state
from roboshop.kit.database import StoreUnavailable
from roboshop.kit.errors import BadRequest, InternalError, NotFound
from roboshop.ratings.domain import UNRATED, InvalidScore, parse_score, sku_problem
from roboshop.ratings.products import ProductCatalogue
from roboshop.ratings.store import RatingStore

HEALTH_TIMEOUT_S = 1.0
NOT_AVAILABLE = "database not available"

router = APIRouter()


class RatingRead(BaseModel):
    avg_rating: float = Field(description="the running average to two decimals; the integer 0 while unrated")
    rating_count: int


class RatingsHealth(BaseModel):
    pdo_connectivity: bool = Field(description="whether the database answered (the name is Robot Shop's)")


class RateResult(BaseModel):
    success: bool = True


Store = Annotated[RatingStore, Depends(from_state("store"))]
Catalogue = Annotated[ProductCatalogue, Depends(from_state("catalogue"))]


@router.get("/_health", response_model=RatingsHealth, responses={400: {"model": RatingsHealth}})
async def health(store: Store) -> Response:
    """Robot Shop's health check: 200 when the database answers, 400 when it does not."""
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            await store.ping()
    except Exception:
        return _json({"pdo_connectivity": False}, status=400)
    return _json({"pdo_connectivity": True})


@router.get("/api/fetch/{sku}", response_model=RatingRead)
async def fetch(sku: str, store: Store) -> Response:
    """The rating of a product; an unrated (or unknown) SKU has ``{"avg_rating":0,"rating_count":0}``."""
    _check_sku(sku)
    with _database():
        rating = await store.rating(sku)
    return _json((rating or UNRATED).to_wire())


@router.put(
    "/api/rate/{sku}/{score}",
    response_model=RateResult,
    responses={400: {"description": "score is not a whole number"}, 404: {"description": "SKU not found"}},
)
async def rate(sku: str, score: str, store: Store, catalogue: Catalogue) -> Response:
    """Add a score (a whole number, clamped to 1..5) to a product the catalogue knows."""
    _check_sku(sku)
    try:
        value = parse_score(score)
    except InvalidScore as exc:
        raise BadRequest(str(exc), text=True) from exc
    if not await catalogue.has_product(sku):
        raise NotFound("SKU not found", text=True)
    with _database():
        await store.rate(sku, value)
    return _json({"success": True})


def _check_sku(sku: str) -> None:
    problem = sku_problem(sku)
    if problem is not None:
        raise BadRequest(problem, text=True)


@contextmanager
def _database() -> Iterator[None]:
    try:
        yield
    except StoreUnavailable as exc:
        raise InternalError(NOT_AVAILABLE, text=True) from exc


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")
