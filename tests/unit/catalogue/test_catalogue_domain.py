from __future__ import annotations

import pytest

from roboshop.catalogue.domain import (
    MAX_KEY_LENGTH,
    MAX_SEARCH_LENGTH,
    Product,
    SearchQuery,
    by_name,
    index_terms,
    key_problem,
    parse_search,
    search_problem,
)


def product(sku: str, name: str) -> Product:
    return Product("0" * 24, sku, name, "", 1, 1, ("Robot",))


def test_a_product_is_indexed_by_the_english_stems_of_its_words() -> None:
    assert index_terms("Robotic Mining Cyborg", "Excellent tunneling capability") == {
        "robot",
        "mine",
        "cyborg",
        "excel",
        "tunnel",
        "capabl",
    }


def test_stop_words_are_not_indexed() -> None:
    assert index_terms("Is your spaceship a bit whiffy?") == {"spaceship", "bit", "whiffi"}


def test_dashes_and_punctuation_separate_words() -> None:
    assert index_terms("High-Powered Travel Droid") == {"high", "power", "travel", "droid"}


def test_case_and_diacritics_do_not_matter() -> None:
    assert index_terms("ÉLECTRONIQUE Naïve") == index_terms("electronique naive")


def test_a_search_wants_any_of_its_words_by_stem() -> None:
    assert parse_search("robots traveling") == SearchQuery(frozenset({"robot", "travel"}))


def test_a_word_after_a_minus_is_excluded() -> None:
    query = parse_search("droid -security")
    assert query == SearchQuery(frozenset({"droid"}), frozenset({"secur"}))
    assert query.matches(index_terms("Exceptional Medical Machine", "surgery droid"))
    assert not query.matches(index_terms("Responsive Enforcer Droid", "Security detail"))


def test_a_minus_inside_a_word_only_separates() -> None:
    assert parse_search("high-powered") == SearchQuery(frozenset({"high", "power"}))


def test_a_search_of_only_stop_words_or_exclusions_finds_nothing() -> None:
    assert parse_search("the of and").finds_nothing
    assert parse_search("-robot").finds_nothing
    assert parse_search("!!! ...").finds_nothing


def test_a_query_matches_products_sharing_any_wanted_term() -> None:
    query = parse_search("guru galaxy")
    assert query.matches(index_terms("Stan", "Observability guru"))
    assert query.matches(index_terms("Droid", "the far reaches of the Galaxy"))
    assert not query.matches(index_terms("Watson", "Probably the smartest AI on the planet"))


def test_products_sort_by_name_in_code_point_order_like_mongo() -> None:
    names = [p.name for p in by_name([product("a", "beta"), product("b", "Zeta"), product("c", "Alpha")])]
    assert names == ["Alpha", "Zeta", "beta"]


@pytest.mark.parametrize("key", ["Watson", "STAN-1", "Artificial Intelligence", "Ü-bot", "x" * MAX_KEY_LENGTH])
def test_ordinary_skus_and_categories_are_accepted(key: str) -> None:
    assert key_problem(key, "sku") is None


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("x" * (MAX_KEY_LENGTH + 1), "sku is too long: at most 100 characters"),
        ("Wat\x00son", "sku must not contain control characters"),
        ("Watson\n", "sku must not contain control characters"),
    ],
)
def test_absurd_skus_are_refused_with_a_reason(key: str, problem: str) -> None:
    assert key_problem(key, "sku") == problem


def test_search_text_is_limited_to_200_characters() -> None:
    assert search_problem("x" * MAX_SEARCH_LENGTH) is None
    assert search_problem("x" * (MAX_SEARCH_LENGTH + 1)) == "search text is too long: at most 200 characters"


def test_a_product_goes_on_the_wire_as_robot_shops_document() -> None:
    stan = Product("586846807f97cc4f4000000a", "STAN-1", "Stan", "Observability guru", 67, 1000, ("Robot", "AI"))
    wire = stan.to_wire()
    assert list(wire) == ["_id", "sku", "name", "description", "price", "instock", "categories"]
    assert wire["categories"] == ["Robot", "AI"]
