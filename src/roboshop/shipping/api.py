"""The shipping service's Robot Shop compatible routes (``/api/shipping/...`` through the gateway).

Bodies are the original's: JSON for data, ``OK`` and the city count as text, and errors as plain text
(Decision Q3). ``/match`` keeps the 9-row quirk (Q2) and ``/calc`` the original's distance (Q1) unless
``distance_formula`` says ``great_circle``. Bad input is a 4xx that changes nothing, never a 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel

from roboshop.kit.app import from_state
from roboshop.kit.database import StoreUnavailable
from roboshop.kit.errors import BadRequest, InsufficientStorage, InternalError, NotFound, UnsupportedMediaType
from roboshop.shipping.cart import CartService
from roboshop.shipping.domain import (
    CITY_NOT_FOUND,
    MATCH_MANY,
    NOT_A_CITY_ID,
    City,
    HeapBallast,
    country_code,
    first_matches,
    match_prefix,
    match_problem,
    parse_city_id,
    ship_to,
)
from roboshop.shipping.settings import ShippingSettings
from roboshop.shipping.store import ShippingStore

NOT_AVAILABLE = "database not available"
CART_NOT_FOUND = "cart not found"

router = APIRouter()


class CountryRead(BaseModel):
    uuid: int
    code: str
    name: str


class CityRead(BaseModel):
    uuid: int
    code: str
    city: str
    name: str
    region: str
    latitude: float
    longitude: float


class ShipmentRead(BaseModel):
    distance: int
    cost: float


class ActuatorHealth(BaseModel):
    status: str = "UP"


Store = Annotated[ShippingStore, Depends(from_state("store"))]
Cart = Annotated[CartService, Depends(from_state("cart"))]
Settings = Annotated[ShippingSettings, Depends(from_state("settings"))]
Ballast = Annotated[HeapBallast, Depends(from_state("ballast"))]


@router.get("/health", response_class=PlainTextResponse)
async def health() -> Response:
    """Liveness in Robot Shop's shape: the text ``OK``."""
    return PlainTextResponse("OK")


@router.get("/count", response_class=PlainTextResponse)
async def count(store: Store) -> Response:
    """The number of cities, as text."""
    with _database():
        found = await store.city_count()
    return PlainTextResponse(str(found))


@router.get("/codes", response_model=list[CountryRead])
async def codes(store: Store) -> Response:
    """Every country the shop ships to, sorted by name."""
    with _database():
        found = await store.countries()
    return _json([country.to_wire() for country in found])


@router.get("/cities/{code}", response_model=list[CityRead])
async def cities(code: str, store: Store) -> Response:
    """Every city of a country (by ISO code, any case); ``[]`` for an unknown code. May be thousands."""
    iso = country_code(code)
    if iso is None:
        return _json([])
    with _database():
        found = await store.cities_in(iso)
    return _cities(found)


@router.get(
    "/match/{code}/{text}",
    response_model=list[CityRead],
    responses={400: {"description": "text shorter than 3 characters"}},
)
async def match(code: str, text: str, store: Store) -> Response:
    """Cities of a country whose name starts with ``text`` (case and accents ignored); more than 10 give 9."""
    problem = match_problem(text)
    if problem is not None:
        raise BadRequest(problem, text=True)
    iso = country_code(code)
    prefix = match_prefix(text)
    if iso is None or prefix is None:
        return _json([])
    with _database():
        found = await store.cities_starting(iso, prefix, limit=MATCH_MANY + 1)
    return _cities(first_matches(found))


@router.get(
    "/calc/{uuid}",
    response_model=ShipmentRead,
    responses={400: {"description": "the id is not a number"}, 404: {"description": "city not found"}},
)
async def calc(uuid: str, store: Store, settings: Settings) -> Response:
    """Distance (whole km) from the warehouse to a city and the cost of shipping there (€0.05/km)."""
    city_id = parse_city_id(uuid)
    if city_id is None:
        raise BadRequest(NOT_A_CITY_ID, text=True)
    with _database():
        city = await store.city(city_id)
    if city is None:
        raise NotFound(CITY_NOT_FOUND, text=True)
    return _json(ship_to(city, settings.distance_formula).to_wire())


@router.post(
    "/confirm/{id}",
    responses={
        400: {"description": "the body is not JSON"},
        404: {"description": "cart not found (any failure of the cart)"},
        415: {"description": "the body is not application/json"},
    },
)
async def confirm(id: str, request: Request, cart: Cart) -> Response:
    """Add the shipping line ``{distance, cost, location}`` to cart ``id``; answers the cart as the cart sent it."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json", text=True)
    try:
        shipping = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise BadRequest("body must be JSON", text=True) from None
    answer = await cart.add_shipping(id, shipping)
    if answer is None:
        raise NotFound(CART_NOT_FOUND, text=True)
    return Response(answer, media_type="application/json")


@router.get("/memory", response_model=int, responses={507: {"description": "memory_max_mib reached"}})
async def memory(ballast: Ballast) -> Response:
    """Fault injection: keep another ``memory_chunk_mib`` of memory alive; answers the number of chunks held."""
    held = ballast.grow()
    if held is None:
        raise InsufficientStorage(
            f"memory limit reached: {ballast.chunks} chunks of {ballast.chunk_bytes // 2**20} MiB held", text=True
        )
    return _json(held)


@router.get("/free", response_model=int)
async def free(ballast: Ballast) -> Response:
    """Fault injection: release what ``/memory`` kept; answers ``0``."""
    return _json(ballast.release())


@router.get("/actuator/health", response_model=ActuatorHealth)
async def actuator_health() -> Response:
    """Spring Boot Actuator's health, as the original exposed it."""
    return _json({"status": "UP"})


@router.get("/actuator/info")
async def actuator_info() -> Response:
    return _json({})


@contextmanager
def _database() -> Iterator[None]:
    try:
        yield
    except StoreUnavailable as exc:
        raise InternalError(NOT_AVAILABLE, text=True) from exc


def _cities(found: list[City]) -> Response:
    return _json([city.to_wire() for city in found])


def _json(content: Any) -> Response:
    # A ready-made response skips FastAPI's re-validation; response_model above still documents the shape.
    return Response(orjson.dumps(content), media_type="application/json")
