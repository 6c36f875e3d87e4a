"""Carts: lines of products, a shipping line, and tax-inclusive totals (no I/O here).

The arithmetic is Robot Shop's, done the way its Node.js cart does it: every number is an IEEE-754 double,
``subtotal = qty * price``, ``total`` is the sum of the subtotals in line order, and the 20 % VAT is already in
the prices, so ``tax = total - total / 1.2``. Nothing is rounded. The wire form prints numbers like
JavaScript's ``JSON.stringify`` (``2001``, not ``2001.0``), so a cart reads the same, byte for byte, as the
original's.
"""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, TypeGuard

import orjson

SHIPPING_SKU = "SHIP"
VAT_DIVISOR = 1.2
MAX_ID_LENGTH = 100
MAX_QUANTITY = 1_000_000
"""The most of one product a cart line holds: far above any real order, low enough that totals stay exact."""
MAX_SHIPPING_COST = 1_000_000
MAX_LOCATION_LENGTH = 200


class CartError(Exception):
    """A cart rule refused a change; the message is the one the shopper sees."""


class CartNotFound(CartError):
    def __init__(self) -> None:
        super().__init__("cart not found")


class NotInCart(CartError):
    def __init__(self) -> None:
        super().__init__("not in cart")


class QuantityTooLarge(CartError):
    def __init__(self) -> None:
        super().__init__(f"quantity is too large: at most {MAX_QUANTITY} of a product")


class InvalidQuantity(CartError):
    pass


class InvalidShipping(CartError):
    pass


class UnusableProduct(ValueError):
    """The catalogue described a product in a shape a cart cannot use."""


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class Product:
    """What a cart needs to know about a catalogue product."""

    sku: str
    name: str
    price: float
    instock: float

    @property
    def in_stock(self) -> bool:
        # Robot Shop only refuses a product whose stock is exactly zero; stock is never counted down.
        return self.instock != 0

    @classmethod
    def from_catalogue(cls, sku: str, document: object) -> Product:
        """Product ``sku`` from the catalogue's ``GET /product/{sku}`` document."""
        if not isinstance(document, dict):
            raise UnusableProduct("the catalogue's product is not a JSON object")
        name, price, instock = document.get("name"), document.get("price"), document.get("instock")
        if not isinstance(name, str):
            raise UnusableProduct("the catalogue's product has no name")
        if not _is_number(price):
            raise UnusableProduct("the catalogue's product has no usable price")
        if not _is_number(instock):
            raise UnusableProduct("the catalogue's product has no usable stock level")
        return cls(sku=sku, name=name, price=float(price), instock=float(instock))


@dataclass(frozen=True, slots=True)
class Shipping:
    """Where an order goes and what it costs to get there (the shipping service's ``/confirm`` body)."""

    location: str
    cost: float

    @classmethod
    def from_request(cls, document: object) -> Shipping:
        """Shipping from the ``POST /shipping/{id}`` body ``{"distance", "cost", "location"}``."""
        if not isinstance(document, dict) or any(
            document.get(field) is None for field in ("distance", "cost", "location")
        ):
            raise InvalidShipping("shipping data missing")
        cost, location = document["cost"], document["location"]
        if not _is_number(document["distance"]):
            raise InvalidShipping("shipping distance must be a number")
        if not _is_number(cost) or not 0 <= cost <= MAX_SHIPPING_COST:
            raise InvalidShipping(f"shipping cost must be a number from 0 to {MAX_SHIPPING_COST}")
        if not isinstance(location, str):
            raise InvalidShipping("shipping location must be text")
        if len(location) > MAX_LOCATION_LENGTH:
            raise InvalidShipping(f"shipping location is too long: at most {MAX_LOCATION_LENGTH} characters")
        if _has_control_characters(location):
            raise InvalidShipping("shipping location must not contain control characters")
        return cls(location=location, cost=float(cost))


@dataclass(frozen=True, slots=True)
class CartLine:
    qty: int
    sku: str
    name: str
    price: float

    @property
    def subtotal(self) -> float:
        return self.qty * self.price


@dataclass(frozen=True, slots=True)
class Totals:
    total: float
    tax: float


@dataclass(frozen=True, slots=True)
class Cart:
    items: tuple[CartLine, ...] = ()

    def add_item(self, product: Product, qty: int) -> Cart:
        """``qty`` more of ``product``: a new line at the end, or more on the line it already has.

        An existing line keeps the price it was added at.
        """
        for index, line in enumerate(self.items):
            if line.sku == product.sku:
                return self._with_line(index, replace(line, qty=_checked(line.qty + qty)))
        line = CartLine(qty=_checked(qty), sku=product.sku, name=product.name, price=product.price)
        return Cart((*self.items, line))

    def update_quantity(self, sku: str, qty: int) -> Cart:
        """Set the quantity of a line; 0 removes it (the shipping line too)."""
        for index, line in enumerate(self.items):
            if line.sku == sku:
                if qty == 0:
                    return Cart(self.items[:index] + self.items[index + 1 :])
                return self._with_line(index, replace(line, qty=_checked(qty)))
        raise NotInCart()

    def set_shipping(self, shipping: Shipping) -> Cart:
        """The shipping line replaces the one the cart has, in place, or comes last."""
        line = CartLine(qty=1, sku=SHIPPING_SKU, name=f"shipping to {shipping.location}", price=shipping.cost)
        for index, existing in enumerate(self.items):
            if existing.sku == SHIPPING_SKU:
                return self._with_line(index, line)
        return Cart((*self.items, line))

    def totals(self) -> Totals:
        total = 0.0
        for line in self.items:
            total += line.subtotal
        return Totals(total=total, tax=total - total / VAT_DIVISOR)

    def to_json(self) -> bytes:
        """The wire form: ``{"total","tax","items":[{"qty","sku","name","price","subtotal"}]}``."""
        totals = self.totals()
        items = ",".join(
            f'{{"qty":{line.qty},"sku":{_js_string(line.sku)},"name":{_js_string(line.name)},'
            f'"price":{js_number(line.price)},"subtotal":{js_number(line.subtotal)}}}'
            for line in self.items
        )
        return f'{{"total":{js_number(totals.total)},"tax":{js_number(totals.tax)},"items":[{items}]}}'.encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Cart:
        document: dict[str, Any] = orjson.loads(raw)
        return cls(
            tuple(
                CartLine(qty=int(item["qty"]), sku=item["sku"], name=item["name"], price=float(item["price"]))
                for item in document["items"]
            )
        )

    def _with_line(self, index: int, line: CartLine) -> Cart:
        return Cart((*self.items[:index], line, *self.items[index + 1 :]))


def _checked(qty: int) -> int:
    if qty > MAX_QUANTITY:
        raise QuantityTooLarge()
    return qty


# parseInt's whitespace: ECMAScript's WhiteSpace and LineTerminator (plus every Unicode space separator).
_JS_SPACE = frozenset("\t\n\v\f\r \u00a0\u2028\u2029\ufeff")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_DECIMAL_DIGITS = frozenset("0123456789")
_HUGE = 10**18
"""What parseInt's result is clamped to: beyond every quantity a cart accepts, and cheap to compare."""


def parse_quantity(text: str) -> int | None:
    """JavaScript's ``parseInt(text)`` (no radix), as Robot Shop reads quantities; ``None`` is NaN.

    Leading whitespace is skipped, then an optional sign, then a ``0x``/``0X`` prefix selects hexadecimal;
    the longest run of digits that follows is the number and the rest is ignored: ``"2abc"`` is 2,
    ``" 3"`` is 3, ``"0x10"`` is 16, ``"1e3"`` is 1, ``"abc"`` and ``""`` are NaN. Magnitudes beyond 10**18
    are clamped to it.
    """
    start = 0
    while start < len(text) and (text[start] in _JS_SPACE or unicodedata.category(text[start]) == "Zs"):
        start += 1
    rest = text[start:]
    sign = -1 if rest.startswith("-") else 1
    if rest[:1] in ("-", "+"):
        rest = rest[1:]
    base, digits = 10, _DECIMAL_DIGITS
    if rest[:2] in ("0x", "0X"):
        base, digits, rest = 16, _HEX_DIGITS, rest[2:]
    end = 0
    while end < len(rest) and rest[end] in digits:
        end += 1
    number = rest[:end].lstrip("0")
    if end == 0:
        return None
    if len(number) > 18:
        return sign * _HUGE
    return sign * min(int(number or "0", base), _HUGE)


def quantity_to_add(text: str) -> int:
    """The quantity of an ``add``: parseInt's reading of ``text``, at least 1."""
    qty = parse_quantity(text)
    if qty is None:
        raise InvalidQuantity("quantity must be a number")
    if qty < 1:
        raise InvalidQuantity("quantity has to be greater than zero")
    return _checked(qty)


def quantity_to_set(text: str) -> int:
    """The quantity of an ``update``: parseInt's reading of ``text``, 0 (remove the line) or more."""
    qty = parse_quantity(text)
    if qty is None:
        raise InvalidQuantity("quantity must be a number")
    if qty < 0:
        raise InvalidQuantity("negative quantity not allowed")
    return _checked(qty)


def js_number(value: float) -> str:
    """``value`` as JavaScript prints a number in JSON: ``2001``, ``333.5``, ``1e+21``, ``1e-7``; NaN is ``null``.

    The digits are the shortest that read back as ``value`` (Python's ``repr`` and JavaScript agree on
    them); only where the decimal point and exponent go differs, and that follows ECMAScript's
    Number::toString.
    """
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = exponent + k  # value = 0.<digits> * 10**n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        power = f"e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
        text = (digits if k == 1 else f"{digits[0]}.{digits[1:]}") + power
    return sign + text


def _js_string(text: str) -> str:
    # The same escapes as JSON.stringify: quotes, backslashes and control characters; the rest verbatim.
    return json.dumps(text, ensure_ascii=False)


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


def id_problem(kind: str, value: str) -> str | None:
    """Why a cart id or SKU from the URL cannot be used (``None``: it can); ``kind`` names it in the message."""
    if len(value) > MAX_ID_LENGTH:
        return f"{kind} is too long: at most {MAX_ID_LENGTH} characters"
    if _has_control_characters(value):
        return f"{kind} must not contain control characters"
    return None
