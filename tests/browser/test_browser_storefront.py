"""The storefront in real Chromium against a whole running shop: the shopper's journey, accounts, errors, weight."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import RunningShop

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Expect, Page, Request

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

FIRST_LOAD_BUDGET_BYTES = 300 * 1024
PAYMENT_OUTCOME = re.compile(r"Order placed [0-9a-f-]{36}|Payment is not available yet")


def snap(page: Page, screenshots: Path, name: str) -> None:
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def heading(check: Expect, page: Page, name: str) -> None:
    check(page.get_by_role("heading", level=1)).to_have_text(name)


def test_a_new_visitor_browses_searches_rates_fills_the_cart_ships_and_reaches_payment(
    page: Page, screenshots: Path, check: Expect
) -> None:
    asked_for_ids: list[str] = []
    page.on("request", lambda r: asked_for_ids.append(r.url) if r.url.endswith("/api/user/uniqueid") else None)

    page.goto("/")
    check(page.locator(".grid .card")).to_have_count(11)
    check(page.locator("#visitor")).to_have_text(re.compile(r"^anonymous-\d+$"))
    check(page.locator("#cart-total")).to_have_text("Empty")
    snap(page, screenshots, "01-home")

    page.get_by_role("link", name="Artificial Intelligence").click()
    heading(check, page, "Artificial Intelligence")
    check(page.locator(".grid .name")).to_have_text(["Ewooid", "Stan", "Watson"])
    snap(page, screenshots, "02-category")

    page.get_by_label("Search products").fill("guru")
    page.get_by_label("Search products").press("Enter")
    heading(check, page, "Search results for \u201cguru\u201d")
    check(page.locator(".grid .name")).to_have_text(["Stan"])
    snap(page, screenshots, "03-search")

    page.locator(".grid").get_by_role("link", name="Stan").click()
    heading(check, page, "Stan")
    check(page).to_have_url(re.compile(r"/product/STAN-1$"))
    check(page.get_by_text("Observability guru")).to_be_visible()
    check(page.get_by_text("In stock: 1000")).to_be_visible()
    check(page.get_by_role("img", name="Picture of Stan")).to_be_visible()
    check(page.get_by_text("No votes yet. Vote now.")).to_be_visible()
    page.get_by_role("button", name="Rate 4 out of 5").click()
    check(page.get_by_text("Thank you for your feedback")).to_be_visible()
    check(page.get_by_text("Rated 4.0 out of 5 from 1 vote")).to_be_visible()
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to cart").click()
    check(page.get_by_text("Added to cart")).to_be_visible()
    check(page.locator("#cart-total")).to_have_text("\u20ac134.00")
    snap(page, screenshots, "04-product")

    page.goto("/product/Watson")
    page.get_by_role("button", name="Add to cart").click()
    check(page.locator("#cart-total")).to_have_text("\u20ac2135.00")

    page.get_by_role("link", name=re.compile("^Cart")).click()
    heading(check, page, "Your cart")
    check(page.locator("#total")).to_have_text("\u20ac2135.00")
    page.get_by_label("Quantity of Stan").fill("3")
    page.get_by_label("Quantity of Stan").press("Tab")
    check(page.locator("#total")).to_have_text("\u20ac2202.00")
    check(page.locator("#tax")).to_have_text("\u20ac367.00")  # 20% VAT included: 2202 - 2202 / 1.2
    check(page.locator("#cart-total")).to_have_text("\u20ac2202.00")
    snap(page, screenshots, "05-cart")

    page.get_by_role("link", name="Checkout").click()
    heading(check, page, "Shipping")
    page.get_by_label("Country").select_option(label="United Kingdom")
    city = page.get_by_role("combobox", name="City")
    city.press_sequentially("Lo", delay=20)
    check(page.get_by_role("listbox")).to_be_hidden()  # suggestions start from three letters
    city.press_sequentially("ndo", delay=20)
    first = page.get_by_role("listbox", name="Cities").get_by_role("option").first
    check(first).to_have_text(re.compile(r"^Londo"))
    chosen = first.inner_text()
    snap(page, screenshots, "06-shipping-autocomplete")
    city.press("ArrowDown")
    city.press("Enter")
    check(city).to_have_value(chosen)
    page.get_by_role("button", name="Calculate").click()
    check(page.locator("#quote")).to_contain_text(re.compile(r"Distance\s*\d+ km\s*Cost\s*\u20ac\d+\.\d\d"))
    snap(page, screenshots, "06-shipping-cost")
    page.get_by_role("button", name="Confirm shipping").click()

    heading(check, page, "Payment")
    check(page).to_have_url(re.compile(r"/payment$"))
    check(page.get_by_role("rowheader", name=f"shipping to United Kingdom {chosen}")).to_be_visible()
    snap(page, screenshots, "07-payment")
    page.get_by_role("button", name="Pay now").click()
    # Payment arrives with a later issue: until then the page must say so instead of failing silently.
    check(page.get_by_role("main")).to_contain_text(PAYMENT_OUTCOME)
    snap(page, screenshots, "08-payment-outcome")
    assert len(asked_for_ids) == 1, asked_for_ids


def test_a_shopper_who_logs_in_keeps_the_anonymous_cart_and_sees_the_order_history(
    page: Page, screenshots: Path, check: Expect
) -> None:
    page.goto("/product/RMC")
    page.get_by_role("button", name="Add to cart").click()
    check(page.locator("#cart-total")).to_have_text("\u20ac42.00")

    page.get_by_role("link", name="Log in").click()
    heading(check, page, "Log in or register")
    login = page.get_by_role("form", name="Log in")
    login.get_by_label("Name").fill("user")
    login.get_by_label("Password").fill("not-the-password")
    login.get_by_role("button", name="Log in").click()
    check(login.get_by_role("alert")).to_have_text("ERROR incorrect password")
    snap(page, screenshots, "09-login-error")

    login.get_by_label("Password").fill("password")
    login.get_by_role("button", name="Log in").click()
    heading(check, page, "Your orders")
    check(page.locator("#visitor")).to_have_text("user")
    check(page.locator("#cart-total")).to_have_text("\u20ac42.00")
    snap(page, screenshots, "10-history")

    page.get_by_role("link", name=re.compile("^Cart")).click()
    check(page.get_by_role("rowheader", name="Robotic Mining Cyborg")).to_be_visible()


def test_a_new_shopper_registers_and_keeps_the_cart(page: Page, screenshots: Path, check: Expect) -> None:
    page.goto("/product/EMM")
    page.get_by_role("button", name="Add to cart").click()
    check(page.locator("#cart-total")).to_have_text("\u20ac1024.00")
    page.goto("/login")
    register = page.get_by_role("form", name="Register")
    register.get_by_label("Name").fill("stan")
    register.get_by_label("Email").fill("stan@example.com")
    register.get_by_label("Password", exact=True).fill("secret-1")
    register.get_by_label("Confirm password").fill("secret-2")
    register.get_by_role("button", name="Register").click()
    check(register.get_by_role("alert")).to_have_text("ERROR the passwords do not match")
    register.get_by_label("Confirm password").fill("secret-1")
    register.get_by_role("button", name="Register").click()
    check(register.get_by_role("alert")).to_have_text("ERROR name already exists")
    snap(page, screenshots, "11-register-error")

    name = f"shopper-{uuid.uuid4().hex[:8]}"
    register.get_by_label("Name").fill(name)
    register.get_by_role("button", name="Register").click()
    heading(check, page, "Your orders")
    check(page.get_by_text(f"Welcome, {name}. You have no orders yet.")).to_be_visible()
    check(page.locator("#cart-total")).to_have_text("\u20ac1024.00")
    page.goto("/cart")
    check(page.get_by_role("rowheader", name="Exceptional Medical Machine")).to_be_visible()


def test_bad_input_gets_a_message_the_shopper_can_act_on(page: Page, screenshots: Path, check: Expect) -> None:
    page.goto("/")
    page.get_by_label("Search products").fill("a")
    page.get_by_role("button", name="Search").click()
    check(page.get_by_role("alert")).to_have_text("Type at least 2 characters to search.")
    snap(page, screenshots, "12-short-search")

    page.goto("/product/NoSuchRobot")
    heading(check, page, "Product not found")
    check(page.get_by_role("alert")).to_have_text("ERROR SKU not found")

    page.goto("/product/CNA")
    check(page.get_by_text("Out of stock")).to_be_visible()
    check(page.get_by_role("button", name="Add to cart")).to_be_disabled()

    page.goto("/history")
    check(page.get_by_role("link", name="Log in or register")).to_be_visible()


def test_a_deep_link_survives_a_reload_and_the_back_button(page: Page, check: Expect) -> None:
    page.goto("/product/Watson")
    heading(check, page, "Watson")
    page.reload()
    heading(check, page, "Watson")
    check(page.get_by_text("Probably the smartest AI on the planet")).to_be_visible()
    page.get_by_role("link", name="Robot", exact=True).click()
    heading(check, page, "Robot")
    page.go_back()
    heading(check, page, "Watson")
    page.goto("/no/such/page")
    heading(check, page, "Page not found")


def test_the_first_page_load_is_small_and_never_leaves_the_site(
    browser: Browser, shop: RunningShop, check: Expect
) -> None:
    context = browser.new_context(base_url=shop.gateway)
    try:
        page = context.new_page()
        requested: list[str] = []
        finished: list[Request] = []
        page.on("request", lambda request: requested.append(request.url))
        page.on("requestfinished", lambda request: finished.append(request))
        page.goto("/", wait_until="networkidle")
        check(page.locator(".grid .card")).to_have_count(11)
        page.wait_for_load_state("networkidle")

        transferred = 0
        for request in finished:
            sizes = request.sizes()
            transferred += sizes["responseHeadersSize"] + sizes["responseBodySize"]
    finally:
        context.close()
    network = [url for url in requested if not url.startswith("data:")]
    assert {f"{shop.gateway}/", f"{shop.gateway}/api/catalogue/products"} <= set(network)
    assert all(url.startswith(f"{shop.gateway}/") for url in network), network
    assert 0 < transferred < FIRST_LOAD_BUDGET_BYTES, transferred


@pytest.mark.parametrize("path", ["/", "/product/HPTD", "/login"])
def test_the_shop_fits_a_375_pixel_phone_screen(
    browser: Browser, shop: RunningShop, screenshots: Path, path: str, check: Expect
) -> None:
    context = browser.new_context(base_url=shop.gateway, viewport={"width": 375, "height": 740})
    try:
        page = context.new_page()
        page.goto(path)
        check(page.get_by_role("heading", level=1)).not_to_have_text("")
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        snap(page, screenshots, "phone" + (path.replace("/", "-") if path != "/" else "-home"))
    finally:
        context.close()
    assert overflow <= 0


def test_keyboard_users_see_where_the_focus_is(page: Page, check: Expect) -> None:
    page.goto("/product/Watson")
    heading(check, page, "Watson")
    page.get_by_role("button", name="Rate 5 out of 5").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
