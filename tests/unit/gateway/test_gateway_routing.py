"""The route table: validation with errors that name the entry and field, and matching of raw paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from roboshop.gateway.routing import (
    MethodNotAllowed,
    Route,
    Router,
    RouteTableError,
    compile_routes,
    load_route_table,
    parse_route_table,
)
from roboshop.gateway.settings import packaged_routes_file


def router_for(services: dict[str, Any], default_timeout_s: float = 30.0) -> Router:
    return compile_routes(parse_route_table({"services": services}), default_timeout_s=default_timeout_s)


def table_error(services: Any) -> str:
    with pytest.raises(RouteTableError) as caught:
        parse_route_table({"services": services}, source="routes.yaml")
    return str(caught.value)


CATALOGUE = {
    "catalogue": {
        "timeout_s": 10,
        "routes": [
            {"methods": ["GET"], "path": "/products"},
            {"methods": ["GET"], "path": "/product/{sku}"},
            {"methods": ["GET"], "path": "/products/{category}"},
            {"methods": ["GET"], "path": "/products/featured"},
            {"methods": ["GET"], "path": "/search/{text}"},
        ],
    },
    "cart": {
        "routes": [
            {"methods": ["GET"], "path": "/cart/{id}"},
            {"methods": ["DELETE"], "path": "/cart/{id}"},
            {"methods": ["GET"], "path": "/add/{id}/{sku}/{qty}"},
        ]
    },
    "ratings": {"routes": [{"methods": ["put"], "path": "/api/rate/{sku}/{score}"}]},
}


def matched(router: Router, method: str, path: str) -> Route:
    found, _ = router.match(method, path)
    assert isinstance(found, Route), f"{method} {path} did not match: {found}"
    return found


# Validation ---------------------------------------------------------------------------------------------


def test_the_packaged_route_table_publishes_the_catalogue_and_ratings_routes() -> None:
    router = compile_routes(load_route_table(packaged_routes_file()), default_timeout_s=30)
    labels = {route.label for route in router.routes}
    assert {
        "/api/catalogue/products",
        "/api/catalogue/product/{sku}",
        "/api/catalogue/products/{category}",
        "/api/catalogue/categories",
        "/api/catalogue/search/{text}",
        "/api/ratings/api/fetch/{sku}",
        "/api/ratings/api/rate/{sku}/{score}",
    } <= labels
    assert router.services["catalogue"].timeout_s == 10
    assert router.services["ratings"].timeout_s == 30


def test_the_packaged_route_table_guards_every_route_that_names_a_cart_or_a_user() -> None:
    router = compile_routes(load_route_table(packaged_routes_file()), default_timeout_s=30)
    guarded = {(route.label, route.owns) for route in router.routes if route.auth == "session"}
    assert guarded == {
        ("/api/cart/cart/{id}", ("id",)),
        ("/api/cart/add/{id}/{sku}/{qty}", ("id",)),
        ("/api/cart/update/{id}/{sku}/{qty}", ("id",)),
        ("/api/cart/rename/{from}/{to}", ("from", "to")),
        ("/api/shipping/confirm/{id}", ("id",)),
        ("/api/user/history/{name}", ("name",)),
    }
    public = {route.label for route in router.routes if route.auth == "public"}
    assert {"/api/cart/health", "/api/cart/metrics", "/api/user/uniqueid", "/api/user/login"} <= public
    assert all(route.owns == () for route in router.routes if route.auth == "public")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/cart/cart/anonymous-1"),
        ("POST", "/api/cart/shipping/anonymous-1"),
        ("GET", "/api/user/check/user"),
        ("POST", "/api/user/order/user"),
        ("GET", "/api/user/users/user"),
        ("GET", "/api/user/users"),
        ("GET", "/api/user/.well-known/jwks.json"),
        ("GET", "/api/shipping/memory"),
        ("GET", "/api/shipping/free"),
    ],
)
def test_the_packaged_route_table_routes_no_internal_route(method: str, path: str) -> None:
    router = compile_routes(load_route_table(packaged_routes_file()), default_timeout_s=30)
    assert not isinstance(router.match(method, path)[0], Route)


def test_a_route_without_methods_is_named_by_service_index_and_path() -> None:
    message = table_error({"catalogue": {"routes": [{"methods": ["GET"], "path": "/a"}, {"path": "/product/{sku}"}]}})
    assert "routes.yaml" in message
    assert "services.catalogue.routes[1] (/product/{sku}).methods: Field required" in message


@pytest.mark.parametrize(
    ("route", "field", "says"),
    [
        ({"methods": ["FETCH"], "path": "/products"}, "methods", "unknown method(s) ['FETCH']"),
        ({"methods": ["GET", "get"], "path": "/products"}, "methods", "listed twice"),
        ({"methods": [], "path": "/products"}, "methods", "at least 1 item"),
        ({"methods": ["GET"], "path": "products"}, "path", "must start with '/'"),
        ({"methods": ["GET"], "path": "/products/"}, "path", "empty segment"),
        ({"methods": ["GET"], "path": "/product/{sku"}, "path", "'{sku'"),
        ({"methods": ["GET"], "path": "/product/sku-{sku}"}, "path", "whole-segment"),
        ({"methods": ["GET"], "path": "/cart/{id}/{id}"}, "path", "used twice"),
        ({"methods": ["GET"], "path": "/a/../admin"}, "path", "'..'"),
        ({"methods": ["GET"], "path": "/search/a%20b"}, "path", "'a%20b'"),
        (
            {"methods": ["GET"], "path": "/products", "auth": "none"},
            "auth",
            "Input should be 'public', 'session' or 'api_key'",
        ),
        (
            {"methods": ["GET"], "path": "/cart/{id}", "auth": "session", "owns": ["cart"]},
            "owns",
            "no parameter 'cart'",
        ),
        ({"methods": ["GET"], "path": "/cart/{id}", "owns": ["id"]}, "owns", "only a route with 'auth: session'"),
        ({"methods": ["GET"], "path": "/a/{x}", "auth": "session", "owns": ["x", "x"]}, "owns", "listed twice"),
        ({"methods": ["GET"], "path": "/a/{x}", "auth": "session", "owns": "x"}, "owns", "valid list"),
        ({"methods": ["GET"], "path": "/a", "scope": "admin"}, "scope", "Extra inputs are not permitted"),
    ],
)
def test_an_invalid_route_entry_is_reported_with_its_field(route: dict[str, Any], field: str, says: str) -> None:
    message = table_error({"catalogue": {"routes": [route]}})
    assert f"services.catalogue.routes[0] ({route['path']}).{field}: " in message
    assert says in message


def test_a_route_declared_twice_is_refused_even_with_other_parameter_names() -> None:
    routes = [{"methods": ["GET"], "path": "/cart/{id}"}, {"methods": ["GET", "DELETE"], "path": "/cart/{cart}"}]
    message = table_error({"cart": {"routes": routes}})
    assert "services.cart: GET /cart/{cart} is declared twice" in message


@pytest.mark.parametrize(
    ("services", "says"),
    [
        ({"Catalogue": {"routes": [{"methods": ["GET"], "path": "/x"}]}}, "service name 'Catalogue'"),
        ({"cart": {"routes": []}}, "services.cart.routes: List should have at least 1 item"),
        ({"cart": {"timeout_s": 0, "routes": [{"methods": ["GET"], "path": "/x"}]}}, "services.cart.timeout_s"),
        ({}, "services: Dictionary should have at least 1 item"),
        ([], "services: Input should be a valid dictionary"),
    ],
)
def test_an_invalid_service_entry_is_reported(services: Any, says: str) -> None:
    assert says in table_error(services)


def test_an_unknown_owned_parameter_is_named_with_its_route_even_among_several() -> None:
    route = {"methods": ["GET"], "path": "/rename/{from}/{to}", "auth": "session", "owns": ["from", "too", "frm"]}
    message = table_error({"cart": {"routes": [route]}})
    assert "services.cart.routes[0] (/rename/{from}/{to}).owns: no parameter 'too', 'frm' in /rename/{from}/{to}" in (
        message
    )


def test_a_route_is_public_unless_it_says_otherwise() -> None:
    router = router_for(CATALOGUE)
    assert {route.auth for route in router.routes} == {"public"}
    assert all(route.owns == () for route in router.routes)


def test_a_session_route_knows_the_decoded_identities_its_path_names_in_the_order_owns_lists_them() -> None:
    route = {"methods": ["GET"], "path": "/rename/{from}/{to}", "auth": "session", "owns": ["to", "from"]}
    anyone = {"methods": ["GET"], "path": "/mine/{sku}", "auth": "session"}
    router = router_for({"cart": {"routes": [route, anyone]}})
    rename = matched(router, "GET", "/api/cart/rename/anonymous%2D7/us%C3%A9r")
    assert (rename.auth, rename.owns) == ("session", ("to", "from"))
    assert rename.owned("/rename/anonymous%2D7/us%C3%A9r") == [("to", "usér"), ("from", "anonymous-7")]
    mine = matched(router, "GET", "/api/cart/mine/Watson")
    assert (mine.auth, mine.owned("/mine/Watson")) == ("session", [])


def test_every_problem_in_the_table_is_reported_at_once() -> None:
    message = table_error(
        {"catalogue": {"routes": [{"methods": ["FETCH"], "path": "/a"}, {"methods": ["GET"], "path": "b"}]}}
    )
    assert "routes[0] (/a).methods" in message
    assert "routes[1] (b).path" in message


def test_a_route_file_that_is_not_yaml_or_missing_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "routes.yaml"
    broken.write_text("services:\n  catalogue: [unclosed\n")
    with pytest.raises(RouteTableError, match=r"routes\.yaml: not valid YAML"):
        load_route_table(broken)
    with pytest.raises(RouteTableError, match=r"cannot read the route table .*missing\.yaml"):
        load_route_table(tmp_path / "missing.yaml")


def test_a_route_file_loads_with_methods_in_any_case(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump({"services": CATALOGUE}))
    table = load_route_table(path)
    assert table.services["ratings"].routes[0].methods == ["PUT"]


# Matching -----------------------------------------------------------------------------------------------


def test_a_public_path_matches_its_route_and_keeps_the_rest_for_the_upstream() -> None:
    router = router_for(CATALOGUE)
    found, rest = router.match("GET", "/api/catalogue/product/Watson")
    assert isinstance(found, Route)
    assert found.label == "/api/catalogue/product/{sku}"
    assert rest == "/product/Watson"
    assert found.timeout_s == 10
    assert found.params(rest) == {"sku": "Watson"}


def test_a_service_without_its_own_timeout_uses_the_default() -> None:
    assert matched(router_for(CATALOGUE, 7.5), "GET", "/api/cart/cart/anonymous-1").timeout_s == 7.5


def test_a_literal_segment_wins_over_a_parameter_whatever_the_file_order() -> None:
    router = router_for(CATALOGUE)
    assert matched(router, "GET", "/api/catalogue/products/featured").template == "/products/featured"
    assert matched(router, "GET", "/api/catalogue/products/Robot").template == "/products/{category}"


def test_parameters_match_one_whole_segment_and_are_decoded_for_policies() -> None:
    router = router_for(CATALOGUE)
    route = matched(router, "GET", "/api/cart/add/anonymous-1/Watson/2")
    assert route.params("/add/anonymous-1/Watson/2") == {"id": "anonymous-1", "sku": "Watson", "qty": "2"}
    search = matched(router, "GET", "/api/catalogue/search/robot%20arm")
    assert search.params("/search/robot%20arm") == {"text": "robot arm"}
    assert router.match("GET", "/api/cart/add/anonymous-1/Watson")[0] is None
    assert router.match("GET", "/api/cart/add/anonymous-1/Watson/2/3")[0] is None


@pytest.mark.parametrize(
    "path",
    [
        "/api/catalogue/product/",
        "/api/catalogue/product/..",
        "/api/catalogue/product/.",
        "/api/catalogue/product/%2E%2e",
        "/api/catalogue/product/a%2Fb",
        "/api/catalogue/product/a%00b",
        "/api/catalogue/products/",
        "/api/catalogue",
        "/api/catalogue/",
        "/api/nosuchservice/products",
        "/api/",
        "/api/catalogue/admin/drop",
    ],
)
def test_paths_outside_the_table_match_nothing(path: str) -> None:
    assert router_for(CATALOGUE).match("GET", path)[0] is None


def test_head_is_allowed_wherever_get_is() -> None:
    assert matched(router_for(CATALOGUE), "HEAD", "/api/catalogue/products").label == "/api/catalogue/products"


def test_a_known_path_with_another_method_is_not_allowed_and_says_what_is() -> None:
    router = router_for(CATALOGUE)
    found, _ = router.match("POST", "/api/cart/cart/anonymous-1")
    assert found == MethodNotAllowed("GET, HEAD, DELETE", "/api/cart/cart/{id}")
    deleted = matched(router, "DELETE", "/api/cart/cart/anonymous-1")
    assert deleted.methods == frozenset({"DELETE"})


def test_not_allowed_lists_the_methods_of_every_template_that_matched_the_path() -> None:
    router = router_for(
        {
            "cart": {
                "routes": [
                    {"methods": ["GET"], "path": "/cart/{id}"},
                    {"methods": ["PUT"], "path": "/cart/current"},
                ]
            }
        }
    )
    assert matched(router, "GET", "/api/cart/cart/current").template == "/cart/{id}"
    found, _ = router.match("POST", "/api/cart/cart/current")
    assert isinstance(found, MethodNotAllowed)
    assert found.allow == "GET, HEAD, PUT"
