from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal

import pytest

from roboshop.ratings.domain import UNRATED, InvalidScore, Rating, next_hundredths, parse_score, sku_problem


@pytest.mark.parametrize(
    ("text", "score"),
    [("1", 1), ("3", 3), ("5", 5), ("+4", 4), ("0", 1), ("-7", 1), ("6", 5), ("99999999999999999999", 5)],
)
def test_a_score_is_a_whole_number_clamped_to_one_to_five(text: str, score: int) -> None:
    assert parse_score(text) == score


@pytest.mark.parametrize("text", ["", "abc", "2.5", "3abc", " 3", "1_0", "٣", "0x3", "1" * 31])
def test_anything_but_a_whole_number_is_not_a_score(text: str) -> None:
    with pytest.raises(InvalidScore, match="score must be a whole number"):
        parse_score(text)


def test_a_first_score_is_the_average() -> None:
    assert UNRATED.with_score(4) == Rating(Decimal("4.00"), 1)


def test_each_score_moves_the_running_average() -> None:
    rating = UNRATED.with_score(5).with_score(4)
    assert rating == Rating(Decimal("4.50"), 2)
    assert rating.with_score(4) == Rating(Decimal("4.33"), 3)


def test_the_average_is_rounded_half_up_to_two_decimals_and_kept_rounded() -> None:
    # (4.33 * 3 + 5) / 4 = 4.4975: half up gives 4.50, from the stored 4.33 and not from 13/3.
    assert Rating(Decimal("4.33"), 3).with_score(5) == Rating(Decimal("4.50"), 4)
    # (1.00 * 2 + 2) / 3 = 1.333..: down to 1.33.
    assert Rating(Decimal("1.00"), 2).with_score(2) == Rating(Decimal("1.33"), 3)


def test_whole_hundredths_arithmetic_equals_decimal_rounding() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        hundredths, count, score = rng.randint(100, 500), rng.randint(1, 10**6), rng.randint(1, 5)
        exact = (Decimal(hundredths) / 100 * count + score) / (count + 1)
        expected = int(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100)
        assert next_hundredths(hundredths, count, score) == expected, (hundredths, count, score)


def test_an_unrated_product_goes_on_the_wire_as_integer_zeros() -> None:
    assert UNRATED.to_wire() == {"avg_rating": 0, "rating_count": 0}
    assert isinstance(UNRATED.to_wire()["avg_rating"], int)


def test_a_rated_product_goes_on_the_wire_with_a_float_average() -> None:
    assert Rating(Decimal("4.33"), 3).to_wire() == {"avg_rating": 4.33, "rating_count": 3}
    assert isinstance(Rating(Decimal("4.00"), 1).to_wire()["avg_rating"], float)


@pytest.mark.parametrize(
    ("sku", "problem"),
    [
        ("Watson", None),
        ("x" * 100, None),
        ("x" * 101, "sku is too long: at most 100 characters"),
        ("Wat\x00son", "sku must not contain control characters"),
    ],
)
def test_absurd_skus_are_refused_with_a_reason(sku: str, problem: str | None) -> None:
    assert sku_problem(sku) == problem
