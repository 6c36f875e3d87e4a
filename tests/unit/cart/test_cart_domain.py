"""The cart's rules: lines, shipping, tax-inclusive totals, parseInt quantities and the wire form."""

from __future__ import annotations

import pytest

from roboshop.cart.domain import (
    MAX_QUANTITY,
    Cart,
    CartLine,
    InvalidQuantity,
    InvalidShipping,
    NotInCart,
    Product,
    QuantityTooLarge,
    Shipping,
    UnusableProduct,
    id_problem,
    js_number,
    parse_quantity,
    quantity_to_add,
    quantity_to_set,
)

WATSON = Product("Watson", "Watson", 2001.0, 2)
STAN = Product("STAN-1", "Stan", 67.0, 1000)
RMC = Product("RMC", "Robotic Mining Cyborg", 42.0, 48)
LONDON = Shipping("United Kingdom London", 35.2)

WATSON_CART = (
    b'{"total":2001,"tax":333.5,"items":[{"qty":1,"sku":"Watson","name":"Watson","price":2001,"subtotal":2001}]}'
)
WATSON_SHIPPED_CART = (
    b'{"total":2036.2,"tax":339.36666666666656,"items":['
    b'{"qty":1,"sku":"Watson","name":"Watson","price":2001,"subtotal":2001},'
    b'{"qty":1,"sku":"SHIP","name":"shipping to United Kingdom London","price":35.2,"subtotal":35.2}]}'
)


def test_one_watson_is_robot_shops_cart_byte_for_byte() -> None:
    assert Cart().add_item(WATSON, 1).to_json() == WATSON_CART


def test_shipping_to_london_is_taxed_with_the_goods() -> None:
    cart = Cart().add_item(WATSON, 1).set_shipping(LONDON)

    assert cart.to_json() == WATSON_SHIPPED_CART


def test_two_stans_and_a_mining_cyborg_cost_176_with_29_33_tax() -> None:
    totals = Cart().add_item(STAN, 2).add_item(RMC, 1).totals()

    assert (totals.total, totals.tax) == (176, 29.333333333333314)


def test_an_empty_cart_is_zero_with_zero_tax() -> None:
    assert Cart().to_json() == b'{"total":0,"tax":0,"items":[]}'


def test_new_products_are_appended_in_the_order_they_are_added() -> None:
    cart = Cart().add_item(RMC, 1).add_item(WATSON, 1).add_item(STAN, 3)

    assert [line.sku for line in cart.items] == ["RMC", "Watson", "STAN-1"]


def test_adding_a_product_again_adds_to_its_line_at_the_price_it_was_added_at() -> None:
    cheaper_watson = Product("Watson", "Watson", 1000.0, 2)

    cart = Cart().add_item(STAN, 1).add_item(WATSON, 1).add_item(cheaper_watson, 2)

    assert cart.items == (CartLine(1, "STAN-1", "Stan", 67.0), CartLine(3, "Watson", "Watson", 2001.0))
    assert cart.items[1].subtotal == 6003
    assert cart.totals().total == 6070


def test_a_line_cannot_grow_beyond_the_largest_quantity() -> None:
    cart = Cart().add_item(RMC, MAX_QUANTITY)

    with pytest.raises(QuantityTooLarge):
        cart.add_item(RMC, 1)


def test_updating_a_quantity_recomputes_the_subtotal_and_totals() -> None:
    cart = Cart().add_item(STAN, 1).add_item(RMC, 1).update_quantity("STAN-1", 4)

    assert cart.items[0] == CartLine(4, "STAN-1", "Stan", 67.0)
    assert cart.totals().total == 4 * 67 + 42


def test_updating_a_quantity_to_zero_removes_the_line() -> None:
    cart = Cart().add_item(STAN, 1).add_item(RMC, 1).add_item(WATSON, 1).update_quantity("RMC", 0)

    assert [line.sku for line in cart.items] == ["STAN-1", "Watson"]


def test_updating_shipping_to_zero_removes_shipping() -> None:
    cart = Cart().add_item(WATSON, 1).set_shipping(LONDON).update_quantity("SHIP", 0)

    assert cart.to_json() == WATSON_CART


def test_updating_a_product_that_is_not_in_the_cart_is_refused() -> None:
    with pytest.raises(NotInCart, match=r"^not in cart$"):
        Cart().add_item(WATSON, 1).update_quantity("RMC", 1)


def test_shipping_replaces_the_shipping_line_in_place() -> None:
    cart = Cart().add_item(WATSON, 1).set_shipping(LONDON).add_item(RMC, 1)

    cart = cart.set_shipping(Shipping("Germany Berlin", 31.65))

    assert [line.sku for line in cart.items] == ["Watson", "SHIP", "RMC"]
    assert cart.items[1] == CartLine(1, "SHIP", "shipping to Germany Berlin", 31.65)


def test_a_cart_reads_back_from_its_wire_form_unchanged() -> None:
    cart = (
        Cart().add_item(WATSON, 1).add_item(Product("x", 'quote " and \\ and\ttab é', 0.1, 1), 3).set_shipping(LONDON)
    )

    assert Cart.from_json(cart.to_json()) == cart
    assert Cart.from_json(cart.to_json()).to_json() == cart.to_json()


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        (2001.0, "2001"),
        (333.5, "333.5"),
        (29.333333333333314, "29.333333333333314"),
        (0.1 + 0.2, "0.30000000000000004"),
        (-2.5, "-2.5"),
        (-0.0, "0"),
        (1e20, "100000000000000000000"),
        (1.2345678901234568e20, "123456789012345680000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (0.000001, "0.000001"),
        (0.000001234, "0.000001234"),
        (1e-7, "1e-7"),
        (1.25e-7, "1.25e-7"),
        (float("inf"), "null"),
        (float("nan"), "null"),
    ],
)
def test_numbers_are_printed_the_way_javascript_prints_them(value: float, printed: str) -> None:
    assert js_number(value) == printed


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1", 1),
        ("2abc", 2),
        (" 3", 3),
        ("\t\n\u00a0\u2003\ufeff4", 4),
        ("+5", 5),
        ("-1", -1),
        ("-0", 0),
        ("007", 7),
        ("3.9", 3),
        ("1e3", 1),
        ("0x10", 16),
        ("0X1f", 31),
        ("-0x10", -16),
        ("0x1g", 1),
        ("9" * 40, 10**18),
        ("-" + "9" * 40, -(10**18)),
        ("abc", None),
        ("", None),
        (" ", None),
        ("-", None),
        ("0x", None),
        ("Infinity", None),
        ("\u0663", None),
        ("- 1", None),
    ],
)
def test_quantities_are_read_like_javascripts_parse_int(text: str, number: int | None) -> None:
    assert parse_quantity(text) == number


def test_an_added_quantity_must_be_a_number_greater_than_zero() -> None:
    assert quantity_to_add("2abc") == 2
    with pytest.raises(InvalidQuantity, match=r"^quantity must be a number$"):
        quantity_to_add("abc")
    for text in ("0", "-1"):
        with pytest.raises(InvalidQuantity, match=r"^quantity has to be greater than zero$"):
            quantity_to_add(text)
    with pytest.raises(QuantityTooLarge):
        quantity_to_add(str(MAX_QUANTITY + 1))


def test_an_updated_quantity_must_be_a_number_not_below_zero() -> None:
    assert quantity_to_set("0") == 0
    with pytest.raises(InvalidQuantity, match=r"^quantity must be a number$"):
        quantity_to_set("many")
    with pytest.raises(InvalidQuantity, match=r"^negative quantity not allowed$"):
        quantity_to_set("-1")
    with pytest.raises(QuantityTooLarge):
        quantity_to_set("0x" + "f" * 12)


def test_a_catalogue_product_brings_its_name_price_and_stock() -> None:
    document = {"_id": "0" * 24, "sku": "Watson", "name": "Watson", "price": 2001, "instock": 2, "categories": []}

    product = Product.from_catalogue("Watson", document)

    assert product == WATSON
    assert product.in_stock


def test_only_a_stock_of_exactly_zero_is_out_of_stock() -> None:
    assert not Product("CNA", "CNA", 1000.0, 0).in_stock
    assert Product("X", "X", 1.0, -1).in_stock


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"price": 1, "instock": 1},
        {"name": "X", "price": "1", "instock": 1},
        {"name": "X", "price": True, "instock": 1},
        {"name": "X", "price": 1},
        {"name": "X", "price": 1, "instock": None},
    ],
)
def test_a_product_without_a_name_price_or_stock_is_unusable(document: object) -> None:
    with pytest.raises(UnusableProduct):
        Product.from_catalogue("X", document)


def test_shipping_comes_from_distance_cost_and_location() -> None:
    shipping = Shipping.from_request({"distance": 704, "cost": 35.2, "location": "United Kingdom London"})

    assert shipping == LONDON


@pytest.mark.parametrize(
    "document",
    [
        None,
        [],
        {},
        {"cost": 35.2, "location": "London"},
        {"distance": 704, "location": "London"},
        {"distance": 704, "cost": 35.2},
        {"distance": 704, "cost": 35.2, "location": None},
    ],
)
def test_shipping_without_distance_cost_or_location_is_missing(document: object) -> None:
    with pytest.raises(InvalidShipping, match=r"^shipping data missing$"):
        Shipping.from_request(document)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"distance": 1, "cost": "35.2", "location": "London"}, "shipping cost must be a number"),
        ({"distance": 1, "cost": -1, "location": "London"}, "shipping cost must be a number"),
        ({"distance": 1, "cost": 1e9, "location": "London"}, "shipping cost must be a number"),
        ({"distance": 1, "cost": 1, "location": 42}, "shipping location must be text"),
        ({"distance": 1, "cost": 1, "location": "x" * 201}, "shipping location is too long"),
        ({"distance": 1, "cost": 1, "location": "Lon\x00don"}, "shipping location must not contain control"),
    ],
)
def test_shipping_that_cannot_be_a_cart_line_is_refused(document: object, message: str) -> None:
    with pytest.raises(InvalidShipping, match=f"^{message}"):
        Shipping.from_request(document)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("anonymous-1", None),
        ("x" * 100, None),
        ("Stan's robots & co ü", None),
        ("x" * 101, "cart id is too long: at most 100 characters"),
        ("anon\nymous", "cart id must not contain control characters"),
        ("anon\x7fymous", "cart id must not contain control characters"),
    ],
)
def test_cart_ids_are_free_form_but_bounded(value: str, problem: str | None) -> None:
    assert id_problem("cart id", value) == problem
