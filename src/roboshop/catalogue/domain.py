"""Products and the rules of the catalogue: search terms, ordering, what a SKU or category may look like.

Search follows MongoDB ``$text`` as Robot Shop used it on ``name`` + ``description``: the text is split into
words, case and diacritics are ignored, English stop words are dropped, the rest is reduced to its English
(Snowball) stem, and a product matches when it contains *any* of the wanted stems (OR of words) and none of
the excluded ones (a word written ``-word``). A search of only stop words or only exclusions finds nothing.
Quoted phrases are read as plain words.

Stemming happens here, in the domain, and the stores only look up stems in an indexed table of terms. The
databases' own full-text engines were the alternative, but they disagree with each other (SQLite FTS5's
Porter stemmer is not PostgreSQL's ``english`` Snowball configuration, their stop-word lists differ, and
MariaDB's FULLTEXT does not stem at all), so every backend would answer a little differently. One tokenizer
in Python gives the same answer on every backend and on the in-memory fake, which a contract test proves.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import snowballstemmer

MAX_KEY_LENGTH = 100
MAX_SEARCH_LENGTH = 200
MAX_TERM_LENGTH = 100

# A word is a run of letters and digits; everything else (spaces, punctuation, dashes inside words) separates.
_WORD = re.compile(r"[^\W_]+")
# In a search, a word right after a minus at the start of the text or after a space is excluded.
_SEARCH_WORD = re.compile(r"(?:(?<=\s)|^)(-?)([^\W_]+)|([^\W_]+)")

# Function words carry no meaning for a product search (Mongo's text index drops such words too).
_STOP_WORDS = """
    a about above after again against all am an and any are as at be because been before being below
    between both but by can cannot could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more most
    my myself no nor not now of off on once only or other ought our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those through
    to too under until up very was we were what when where which while who whom why will with would you
    your yours yourself yourselves
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    sku: str
    name: str
    description: str
    price: int
    instock: int
    categories: tuple[str, ...]

    def to_wire(self) -> dict[str, Any]:
        """The Robot Shop JSON document, keys in the original's order (``_id`` is the Mongo id)."""
        return {
            "_id": self.id,
            "sku": self.sku,
            "name": self.name,
            "description": self.description,
            "price": self.price,
            "instock": self.instock,
            "categories": list(self.categories),
        }

    @property
    def terms(self) -> frozenset[str]:
        return index_terms(self.name, self.description)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    wanted: frozenset[str]
    excluded: frozenset[str] = frozenset()

    @property
    def finds_nothing(self) -> bool:
        return not self.wanted

    def matches(self, terms: frozenset[str]) -> bool:
        return bool(terms & self.wanted) and not terms & self.excluded


def key_problem(value: str, what: str) -> str | None:
    """Why a SKU or category taken from a URL cannot name anything in the catalogue (``None``: it can)."""
    if len(value) > MAX_KEY_LENGTH:
        return f"{what} is too long: at most {MAX_KEY_LENGTH} characters"
    if any(unicodedata.category(char) == "Cc" for char in value):
        return f"{what} must not contain control characters"
    return None


def search_problem(text: str) -> str | None:
    if len(text) > MAX_SEARCH_LENGTH:
        return f"search text is too long: at most {MAX_SEARCH_LENGTH} characters"
    return None


def index_terms(*texts: str) -> frozenset[str]:
    """The stems a product is found by."""
    return frozenset(term for text in texts for word in _WORD.findall(_fold(text)) if (term := _term(word)) is not None)


def parse_search(text: str) -> SearchQuery:
    wanted: set[str] = set()
    excluded: set[str] = set()
    for minus, prefixed_word, inner_word in _SEARCH_WORD.findall(_fold(text)):
        term = _term(prefixed_word or inner_word)
        if term is not None:
            (excluded if minus else wanted).add(term)
    return SearchQuery(frozenset(wanted - excluded), frozenset(excluded))


def by_name(products: Iterable[Product]) -> list[Product]:
    """Sorted by name in code-point order, as Mongo's ``sort({name: 1})`` does (no locale collation)."""
    return sorted(products, key=lambda product: (product.name, product.sku))


def _fold(text: str) -> str:
    """Lower case without diacritics: ``Électronique`` and ``electronique`` are one word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _term(word: str) -> str | None:
    if word in STOP_WORDS:
        return None
    term = _stemmer().stemWord(word)
    return term[:MAX_TERM_LENGTH] or None


@cache
def _stemmer() -> Any:
    return snowballstemmer.stemmer("english")
