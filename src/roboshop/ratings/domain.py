"""Ratings: scores from 1 to 5 folded into a running average kept to two decimals.

The average is stored like Robot Shop's ``DECIMAL(3,2)``: after every score it is rounded half up to two
decimals, and the next score builds on the rounded value. The arithmetic is done on whole hundredths, so
it is exact here and in every database (see :func:`next_hundredths`), and all of them agree to the cent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MIN_SCORE = 1
MAX_SCORE = 5
MAX_SKU_LENGTH = 100
MAX_SCORE_DIGITS = 30

_WHOLE_NUMBER = re.compile(rf"[+-]?[0-9]{{1,{MAX_SCORE_DIGITS}}}")


class InvalidScore(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rating:
    average: Decimal
    count: int

    @property
    def hundredths(self) -> int:
        return int(self.average.scaleb(2).to_integral_value())

    def with_score(self, score: int) -> Rating:
        """This rating after one more score."""
        average = Decimal(next_hundredths(self.hundredths, self.count, score)).scaleb(-2)
        return Rating(average, self.count + 1)

    def to_wire(self) -> dict[str, Any]:
        """Robot Shop's shape: ``avg_rating`` is a float, or the integer 0 while unrated."""
        if self.count == 0:
            return {"avg_rating": 0, "rating_count": 0}
        return {"avg_rating": float(self.average), "rating_count": self.count}


UNRATED = Rating(Decimal("0.00"), 0)


def next_hundredths(hundredths: int, count: int, score: int) -> int:
    """``(avg * count + score) / (count + 1)`` in hundredths, rounded half up, in integers only.

    With ``total = hundredths * count + 100 * score`` and ``n = count + 1``, ``round_half_up(total / n)``
    is ``(2 * total + n) // (2 * n)``; the SQL store evaluates the same expression.
    """
    total = hundredths * count + 100 * score
    divisor = count + 1
    return (2 * total + divisor) // (2 * divisor)


def parse_score(text: str) -> int:
    """A score from the URL: a whole number (else :class:`InvalidScore`), clamped to 1..5."""
    if not _WHOLE_NUMBER.fullmatch(text):
        # The text is not echoed: error bodies are served as text/html, like Robot Shop's.
        raise InvalidScore("score must be a whole number")
    return min(max(MIN_SCORE, int(text)), MAX_SCORE)


def sku_problem(sku: str) -> str | None:
    """Why a SKU from the URL cannot name a product (``None``: it can)."""
    if len(sku) > MAX_SKU_LENGTH:
        return f"sku is too long: at most {MAX_SKU_LENGTH} characters"
    if any(unicodedata.category(char) == "Cc" for char in sku):
        return "sku must not contain control characters"
    return None
