"""Cities, countries, and the rules of shipping: distance, cost, city search and city ids.

Distance is measured from the warehouse (51.164896, 7.068792, near Wuppertal) to the city. Robot Shop's
formula is a haversine with a bug (Decision Q1): the longitude term multiplies ``sin(Δlon/2)`` by
``sin(Δlon)`` instead of by ``sin(Δlon/2)``. It stays the default so that clients and tests see the same costs
as with the original; :func:`great_circle_km` is the correct haversine. Both round to whole kilometres
half-to-even, as Java's ``Math.rint`` does before the original casts to ``long``.

City search (``/match``) is a case-insensitive prefix match on the city's lower-case ASCII name; the text is
folded the same way as the names were (diacritics dropped, a few letters spelt out), so ``Düs`` finds
``dusseldorf``. More than ten hits give the first nine (Decision Q2).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

DistanceFormula = Literal["robotshop", "great_circle"]

WAREHOUSE_LATITUDE = 51.164896
WAREHOUSE_LONGITUDE = 7.068792
EARTH_RADIUS_KM = 6371.0
CENTS_PER_KM = 5

MATCH_MIN_LENGTH = 3
MATCH_MANY = 10
"""More hits than this and ``/match`` answers only the first :data:`MATCH_SHOWN`."""
MATCH_SHOWN = 9
MAX_CITY_LENGTH = 100

CITY_NOT_FOUND = "city not found"
MATCH_TOO_SHORT = f"text must be at least {MATCH_MIN_LENGTH} characters"
NOT_A_CITY_ID = "city id must be a whole number"

_JAVA_LONG_MIN = -(2**63)
_JAVA_LONG_MAX = 2**63 - 1
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_COUNTRY_CODE = re.compile(r"[A-Za-z]{2}")

# Letters that Unicode does not decompose into an ASCII letter plus accents, spelt the way English does.
_SPELT_OUT = str.maketrans(
    {
        "\N{LATIN SMALL LETTER DOTLESS I}": "i",
        "\N{LATIN SMALL LETTER L WITH STROKE}": "l",
        "\N{LATIN CAPITAL LETTER L WITH STROKE}": "L",
        "\N{LATIN SMALL LETTER D WITH STROKE}": "d",
        "\N{LATIN CAPITAL LETTER D WITH STROKE}": "D",
        "\N{LATIN SMALL LETTER ETH}": "d",
        "\N{LATIN CAPITAL LETTER ETH}": "D",
        "\N{LATIN SMALL LETTER O WITH STROKE}": "o",
        "\N{LATIN CAPITAL LETTER O WITH STROKE}": "O",
        "\N{LATIN SMALL LETTER SHARP S}": "ss",
        "\N{LATIN SMALL LETTER AE}": "ae",
        "\N{LATIN CAPITAL LETTER AE}": "AE",
        "\N{LATIN SMALL LIGATURE OE}": "oe",
        "\N{LATIN CAPITAL LIGATURE OE}": "OE",
        "\N{LATIN SMALL LETTER SCHWA}": "e",
        "\N{LATIN CAPITAL LETTER SCHWA}": "E",
        "\N{LATIN SMALL LETTER H WITH STROKE}": "h",
        "\N{LATIN CAPITAL LETTER H WITH STROKE}": "H",
        "\N{LATIN SMALL LETTER THORN}": "th",
        "\N{LATIN CAPITAL LETTER THORN}": "TH",
        "\N{LATIN SMALL LETTER T WITH STROKE}": "t",
        "\N{RIGHT SINGLE QUOTATION MARK}": "'",
        "\N{LEFT SINGLE QUOTATION MARK}": "'",
        "\N{MODIFIER LETTER TURNED COMMA}": "'",
        "\N{MODIFIER LETTER APOSTROPHE}": "'",
        "\N{GRAVE ACCENT}": "'",
        "\N{EN DASH}": "-",
        "\N{EM DASH}": "-",
    }
)


@dataclass(frozen=True, slots=True)
class Country:
    """A country the shop ships to (Robot Shop's ``Code`` entity)."""

    uuid: int
    code: str
    name: str

    def to_wire(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "code": self.code, "name": self.name}


@dataclass(frozen=True, slots=True)
class City:
    uuid: int
    code: str
    """The country's ISO 3166 alpha-2 code (column ``country_code``)."""
    city: str
    """The lower-case ASCII name that ``/match`` searches."""
    name: str
    """The display name."""
    region: str
    """The first-level administrative division's code (GeoNames ``admin1``)."""
    latitude: float
    longitude: float

    def to_wire(self) -> dict[str, Any]:
        """Robot Shop's ``City`` JSON, keys in the original's order."""
        return {
            "uuid": self.uuid,
            "code": self.code,
            "city": self.city,
            "name": self.name,
            "region": self.region,
            "latitude": self.latitude,
            "longitude": self.longitude,
        }


@dataclass(frozen=True, slots=True)
class Shipment:
    """What shipping to a city costs: whole kilometres and euros."""

    distance: int
    cost: float

    def to_wire(self) -> dict[str, Any]:
        return {"distance": self.distance, "cost": self.cost}


@dataclass(frozen=True, slots=True)
class Geography:
    """Everything the shipping store is seeded with."""

    countries: Sequence[Country]
    cities: Sequence[City]
    source: str = ""


def robotshop_distance_km(latitude: float, longitude: float) -> int:
    """The distance from the warehouse with Robot Shop's haversine, bug included (Decision Q1).

    Where the bug pushes the haversine term outside [0, 1] the original computes NaN, which Java casts to 0.
    """
    home = math.radians(WAREHOUSE_LATITUDE)
    here = math.radians(latitude)
    d_lat = math.radians(WAREHOUSE_LATITUDE - latitude)
    d_lon = math.radians(WAREHOUSE_LONGITUDE - longitude)
    a = math.sin(d_lat / 2) ** 2 + math.cos(here) * math.cos(home) * math.sin(d_lon / 2) * math.sin(d_lon)
    if not 0.0 <= a <= 1.0:
        return 0
    return _whole_km(EARTH_RADIUS_KM * 2 * math.atan2(math.sqrt(a), math.sqrt(1 - a)))


def great_circle_km(latitude: float, longitude: float) -> int:
    """The true great-circle distance from the warehouse (haversine on a sphere of radius 6371 km)."""
    home = math.radians(WAREHOUSE_LATITUDE)
    here = math.radians(latitude)
    d_lat = math.radians(WAREHOUSE_LATITUDE - latitude)
    d_lon = math.radians(WAREHOUSE_LONGITUDE - longitude)
    a = math.sin(d_lat / 2) ** 2 + math.cos(here) * math.cos(home) * math.sin(d_lon / 2) ** 2
    a = min(1.0, max(0.0, a))
    return _whole_km(EARTH_RADIUS_KM * 2 * math.atan2(math.sqrt(a), math.sqrt(1 - a)))


def shipping_cost(distance_km: int) -> float:
    """€0.05 per kilometre, rounded to the cent (``rint(distance * 5) / 100``)."""
    return round(distance_km * CENTS_PER_KM) / 100


def ship_to(city: City, formula: DistanceFormula = "robotshop") -> Shipment:
    measure = robotshop_distance_km if formula == "robotshop" else great_circle_km
    distance = measure(city.latitude, city.longitude)
    return Shipment(distance, shipping_cost(distance))


def parse_city_id(text: str) -> int | None:
    """The city id in ``/calc/{uuid}`` read as a Java ``long``: digits with an optional sign, else ``None``."""
    if not _WHOLE_NUMBER.fullmatch(text):
        return None
    number = int(text)
    return number if _JAVA_LONG_MIN <= number <= _JAVA_LONG_MAX else None


def country_code(text: str) -> str | None:
    """The ISO code a path names, in upper case (Robot Shop's MySQL compared codes case-insensitively).

    ``None`` when ``text`` cannot be a country code, so there is nothing to look up.
    """
    return text.upper() if _COUNTRY_CODE.fullmatch(text) else None


def fold_city_name(name: str) -> str:
    """Lower case, accents dropped and a few letters spelt out: ``Düsseldorf`` -> ``dusseldorf``.

    Characters with no ASCII spelling are kept; :func:`ascii_city_name` drops them.
    """
    decomposed = unicodedata.normalize("NFKD", name.translate(_SPELT_OUT))
    return "".join(char for char in decomposed if not unicodedata.combining(char)).lower()


def ascii_city_name(name: str) -> str:
    """The ``city`` column: the folded name in plain ASCII."""
    return fold_city_name(name).encode("ascii", "ignore").decode("ascii")[:MAX_CITY_LENGTH]


def match_problem(text: str) -> str | None:
    """Why ``/match`` refuses ``text`` (``None``: it does not)."""
    if len(text) < MATCH_MIN_LENGTH:
        return MATCH_TOO_SHORT
    return None


def match_prefix(text: str) -> str | None:
    """The prefix of ``city`` that ``text`` stands for; ``None`` when no city name can start with it."""
    prefix = fold_city_name(text)
    # No city name holds a control character (and PostgreSQL refuses a NUL in a query).
    if not prefix.isascii() or not prefix.isprintable() or len(prefix) > MAX_CITY_LENGTH:
        return None
    return prefix


def first_matches(found: Sequence[City]) -> list[City]:
    """Robot Shop's result limit (Decision Q2): more than ten hits give the first nine, otherwise all."""
    return list(found[:MATCH_SHOWN]) if len(found) > MATCH_MANY else list(found)


def by_name(countries: Iterable[Country]) -> list[Country]:
    """Countries in alphabetical order with accents ignored (``Åland Islands`` next to ``Albania``).

    Sorting here, not in SQL, gives the same order on every backend whatever its collation.
    """
    return sorted(countries, key=lambda country: (fold_city_name(country.name), country.name, country.code))


class HeapBallast:
    """Robot Shop's heap-leak knob (``/memory``, ``/free``), bounded so that it cannot take the host down.

    Each :meth:`grow` keeps another chunk of filled memory alive (filled, so the pages are really resident);
    past ``max_mib`` it refuses instead of growing.
    """

    def __init__(self, chunk_mib: int, max_mib: int) -> None:
        self.chunk_bytes = chunk_mib * 1024 * 1024
        self.max_bytes = max_mib * 1024 * 1024
        self._chunks: list[bytes] = []

    @property
    def chunks(self) -> int:
        return len(self._chunks)

    @property
    def held_bytes(self) -> int:
        return self.chunk_bytes * len(self._chunks)

    def grow(self) -> int | None:
        """Keep one more chunk; the number of chunks held, or ``None`` when that would pass the limit."""
        if self.held_bytes + self.chunk_bytes > self.max_bytes:
            return None
        self._chunks.append(b"\x08" * self.chunk_bytes)
        return len(self._chunks)

    def release(self) -> int:
        """Let go of every chunk; the number held afterwards (0)."""
        self._chunks.clear()
        return len(self._chunks)


def _whole_km(km: float) -> int:
    # Python's round() is half-to-even, like Java's Math.rint.
    return round(km)
