from __future__ import annotations

import pytest

from roboshop.shipping.domain import (
    WAREHOUSE_LATITUDE,
    WAREHOUSE_LONGITUDE,
    City,
    Country,
    HeapBallast,
    ascii_city_name,
    by_name,
    country_code,
    first_matches,
    fold_city_name,
    great_circle_km,
    match_prefix,
    match_problem,
    parse_city_id,
    robotshop_distance_km,
    ship_to,
    shipping_cost,
)

# ROBOSHOP-API.md, shipping: coordinates, the original's distance and cost, and the correct haversine distance.
VECTORS = [
    pytest.param(51.514125, -0.093689, 704, 35.20, 499, id="london"),
    pytest.param(40.7141667, -74.0063889, 7572, 378.60, 6051, id="new-york"),
    pytest.param(-33.861481, 151.205475, 13298, 664.90, 16554, id="sydney"),
    pytest.param(52.516667, 13.4, 633, 31.65, 460, id="berlin"),
]


def city_at(latitude: float, longitude: float) -> City:
    return City(1, "XX", "somewhere", "Somewhere", "01", latitude, longitude)


@pytest.mark.parametrize(("latitude", "longitude", "km", "cost", "true_km"), VECTORS)
def test_the_original_formula_gives_robot_shops_distance_and_cost(
    latitude: float, longitude: float, km: int, cost: float, true_km: int
) -> None:
    assert robotshop_distance_km(latitude, longitude) == km
    assert ship_to(city_at(latitude, longitude)).to_wire() == {"distance": km, "cost": cost}


@pytest.mark.parametrize(("latitude", "longitude", "km", "cost", "true_km"), VECTORS)
def test_the_great_circle_formula_gives_the_true_distance(
    latitude: float, longitude: float, km: int, cost: float, true_km: int
) -> None:
    assert great_circle_km(latitude, longitude) == true_km
    assert ship_to(city_at(latitude, longitude), "great_circle").to_wire() == {
        "distance": true_km,
        "cost": shipping_cost(true_km),
    }


def test_shipping_from_the_warehouse_to_itself_is_free() -> None:
    assert robotshop_distance_km(WAREHOUSE_LATITUDE, WAREHOUSE_LONGITUDE) == 0
    assert great_circle_km(WAREHOUSE_LATITUDE, WAREHOUSE_LONGITUDE) == 0
    assert ship_to(city_at(WAREHOUSE_LATITUDE, WAREHOUSE_LONGITUDE)).to_wire() == {"distance": 0, "cost": 0.0}


def test_where_the_original_formula_breaks_down_it_answers_zero_as_java_did() -> None:
    # More than 180 degrees of longitude apart, the bug makes the haversine term negative: NaN in Java, cast to 0.
    assert robotshop_distance_km(WAREHOUSE_LATITUDE, -175.0) == 0
    assert great_circle_km(WAREHOUSE_LATITUDE, -175.0) == 8635


@pytest.mark.parametrize(("km", "cost"), [(0, 0.0), (1, 0.05), (704, 35.2), (633, 31.65), (99_999, 4999.95)])
def test_shipping_costs_five_cents_a_kilometre(km: int, cost: float) -> None:
    assert shipping_cost(km) == cost


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123", 123),
        ("+5", 5),
        ("-1", -1),
        ("007", 7),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_a_city_id_is_read_as_a_java_long(text: str, expected: int) -> None:
    assert parse_city_id(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "abc", "2abc", "1.5", " 1", "1 ", "1_000", "0x10", "١٢", "9223372036854775808", "-9223372036854775809", "+"],
)
def test_anything_else_is_not_a_city_id(text: str) -> None:
    assert parse_city_id(text) is None


@pytest.mark.parametrize(("text", "expected"), [("GB", "GB"), ("gb", "GB"), ("Gb", "GB")])
def test_a_country_code_is_read_in_any_case(text: str, expected: str) -> None:
    assert country_code(text) == expected


@pytest.mark.parametrize("text", ["", "G", "GBR", "G1", "G%", "ĞB"])
def test_a_text_that_cannot_be_a_country_code_names_no_country(text: str) -> None:
    assert country_code(text) is None


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("London", "london"),
        ("Düsseldorf", "dusseldorf"),
        ("Łódź", "lodz"),
        ("Bodø", "bodo"),
        ("Äußere Neustadt", "aussere neustadt"),
        ("Ea T\N{RIGHT SINGLE QUOTATION MARK}ling", "ea t'ling"),
        ("Bồ Đề", "bo de"),
        ("Reykjanesbær", "reykjanesbaer"),
        ("Alt\N{LATIN SMALL LETTER DOTLESS I}nşehir", "altinsehir"),
        ("Villeray\N{EN DASH}Saint-Michel", "villeray-saint-michel"),
    ],
)
def test_city_names_fold_to_lower_case_ascii(name: str, folded: str) -> None:
    assert ascii_city_name(name) == folded


def test_letters_without_an_ascii_spelling_are_dropped_from_the_city_column() -> None:
    assert fold_city_name("北京") == "北京"
    assert ascii_city_name("北京") == ""


@pytest.mark.parametrize("text", ["", "l", "lo", "Łó"])
def test_a_match_needs_at_least_three_characters(text: str) -> None:
    assert match_problem(text) == "text must be at least 3 characters"


@pytest.mark.parametrize("text", ["lon", "Düs", "北京市"])
def test_three_characters_are_enough_to_match(text: str) -> None:
    assert match_problem(text) is None


@pytest.mark.parametrize(("text", "prefix"), [("Lon", "lon"), ("DÜS", "dus"), ("100%", "100%"), ("a_b", "a_b")])
def test_a_match_text_becomes_a_prefix_of_the_city_column(text: str, prefix: str) -> None:
    assert match_prefix(text) == prefix


@pytest.mark.parametrize("text", ["北京市", "x" * 101])
def test_a_match_text_that_no_city_can_start_with_has_no_prefix(text: str) -> None:
    assert match_prefix(text) is None


@pytest.mark.parametrize(("hits", "answered"), [(0, 0), (1, 1), (9, 9), (10, 10), (11, 9), (25, 9)])
def test_more_than_ten_matches_give_the_first_nine(hits: int, answered: int) -> None:
    found = [City(n, "US", f"city {n}", f"City {n}", "01", 0.0, 0.0) for n in range(hits)]
    assert first_matches(found) == found[:answered]


def test_countries_sort_by_name_with_accents_ignored() -> None:
    countries = [Country(1, "ZW", "Zimbabwe"), Country(2, "AL", "Albania"), Country(3, "AX", "Åland Islands")]
    assert [country.code for country in by_name(countries)] == ["AX", "AL", "ZW"]


def test_the_heap_ballast_grows_by_chunks_up_to_its_limit_and_lets_go() -> None:
    ballast = HeapBallast(chunk_mib=1, max_mib=3)
    assert [ballast.grow() for _ in range(4)] == [1, 2, 3, None]
    assert ballast.held_bytes == 3 * 2**20
    assert ballast.release() == 0
    assert ballast.held_bytes == 0
    assert ballast.grow() == 1


def test_a_ballast_chunk_is_really_filled() -> None:
    ballast = HeapBallast(chunk_mib=1, max_mib=1)
    ballast.grow()
    [chunk] = ballast._chunks
    assert len(chunk) == 2**20
    assert chunk.count(8) == 2**20
