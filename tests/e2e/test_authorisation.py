"""The authorisation matrix: every route of the gateway's route table, called with no session, with the
session that owns the identities the path names, and with another shopper's session.

The routes come from the packaged ``routes.yaml`` itself, so a route added there is in the matrix at once
(a new path parameter needs a sample value below, and the test says so). A cross-user access is another
session getting anything but 401 or 403 from a route that names an identity: there must be none.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from roboshop.gateway.routing import API_PREFIX, PUBLIC, RouteEntry, load_route_table
from roboshop.gateway.settings import packaged_routes_file
from tests.e2e.conftest import RunningShop

pytestmark = pytest.mark.e2e

REFUSED = (401, 403)
# Values for path parameters that name no identity (a city's uuid is looked up: see the samples fixture).
SAMPLES = {"sku": "Watson", "qty": "1", "score": "5", "code": "GB", "text": "lon", "category": "Robot"}
_registered = itertools.count(1)


def body(service: str, method: str, path: str) -> dict[str, Any] | None:
    """What the load generator or the UI would send."""
    if (service, path) == ("user", "/login"):
        return {"name": "user", "password": "password"}
    if (service, path) == ("user", "/register"):
        return {"name": f"matrix-{next(_registered)}", "email": "matrix@robot.shop", "password": "longenough"}
    if (service, path) == ("shipping", "/confirm/{id}"):
        return {"distance": 704, "cost": 35.2, "location": "United Kingdom London"}
    return {} if method in ("POST", "PUT") else None


@dataclass(frozen=True)
class Shopper:
    """A session: its token, its anonymous id (a cart) and the user name it logged in as."""

    token: str
    anonymous: str
    user: str

    def identity(self, param: str) -> str:
        """The identity this shopper owns that a path parameter of that name stands for."""
        if param in ("id", "from"):
            return self.anonymous
        if param in ("name", "to"):
            return self.user
        raise AssertionError(f"the matrix does not know what identity {{{param}}} names: add it to identity()")


def log_in(shop: RunningShop, user: str, password: str) -> Shopper:
    with httpx.Client(base_url=shop.gateway, timeout=30) as browser:
        anonymous = browser.get("/api/user/uniqueid").json()["uuid"]
        response = browser.post("/api/user/login", json={"name": user, "password": password})
        assert response.status_code == 200, response.text
        return Shopper(browser.cookies["roboshop_session"], anonymous, user)


@pytest.fixture(scope="module")
def alice(shop: RunningShop) -> Shopper:
    return log_in(shop, "user", "password")


@pytest.fixture(scope="module")
def bob(shop: RunningShop) -> Shopper:
    return log_in(shop, "stan", "bigbrain")


@pytest.fixture(scope="module")
def samples(shop: RunningShop) -> dict[str, str]:
    london = httpx.get(f"{shop.gateway}/api/shipping/match/GB/london", timeout=30).json()[0]
    return {**SAMPLES, "uuid": str(london["uuid"])}


@dataclass(frozen=True)
class Call:
    service: str
    method: str
    entry: RouteEntry

    @property
    def label(self) -> str:
        return f"{self.method} {API_PREFIX}{self.service}{self.entry.path}"

    def path(
        self, samples: dict[str, str], owner: Shopper | None, swapped: str | None = None, other: Shopper | None = None
    ) -> str:
        """The public path, its owned identities those of ``owner`` (one, ``swapped``, of ``other``)."""
        path = self.entry.path
        for segment in path.split("/"):
            if not (segment.startswith("{") and segment.endswith("}")):
                continue
            param = segment[1:-1]
            if param in self.entry.owns:
                assert owner is not None
                value = (other or owner).identity(param) if param == swapped else owner.identity(param)
            elif param in samples:
                value = samples[param]
            else:
                raise AssertionError(f"{self.label}: add a sample value for {{{param}}} to SAMPLES")
            path = path.replace(segment, value)
        return f"{API_PREFIX}{self.service}{path}"


def table() -> Iterator[Call]:
    for service, entry in load_route_table(packaged_routes_file()).services.items():
        for route in entry.routes:
            for method in route.methods:
                yield Call(service, method, route)


CALLS = list(table())


def send(shop: RunningShop, call: Call, path: str, session: Shopper | None, carrier: str) -> httpx.Response:
    """One request from a client that keeps no cookies: the session goes along only as given."""
    headers: dict[str, str] = {}
    if session is not None:
        if carrier == "cookie":
            headers["Cookie"] = f"roboshop_session={session.token}"
        else:
            headers["Authorization"] = f"Bearer {session.token}"
    return httpx.request(
        call.method,
        f"{shop.gateway}{path}",
        headers=headers,
        json=body(call.service, call.method, call.entry.path),
        timeout=30,
    )


def test_the_matrix_covers_every_route_of_the_table_and_every_guarded_one_names_an_identity() -> None:
    assert len(CALLS) == sum(
        len(route.methods)
        for entry in load_route_table(packaged_routes_file()).services.values()
        for route in entry.routes
    )
    guarded = [call.label for call in CALLS if call.entry.auth != PUBLIC]
    assert len(guarded) == 6
    assert all(call.entry.owns for call in CALLS if call.entry.auth != PUBLIC)


@pytest.mark.parametrize("carrier", ["cookie", "bearer"])
def test_no_session_reaches_an_identity_it_does_not_own_on_any_route(
    shop: RunningShop, alice: Shopper, bob: Shopper, samples: dict[str, str], carrier: str
) -> None:
    outcomes: dict[str, dict[str, int]] = {}
    cross_user: list[str] = []
    wrong: list[str] = []
    for call in CALLS:
        guarded = call.entry.auth != PUBLIC
        seen: dict[str, int] = {}
        for caller in ("none", "own", "other"):
            session = {"none": None, "own": alice, "other": bob}[caller]
            # A public route's path is the same for everyone; a guarded one names alice's identities.
            response = send(shop, call, call.path(samples, alice if guarded else None), session, carrier)
            seen[caller] = response.status_code
            if guarded and caller == "other" and response.status_code not in REFUSED:
                cross_user.append(f"{call.label} as bob: {response.status_code} {response.text[:100]}")
        for param in call.entry.owns if len(call.entry.owns) > 1 else ():
            # Owning some of the identities is not enough: each one the path names is checked.
            response = send(shop, call, call.path(samples, alice, swapped=param, other=bob), alice, carrier)
            seen[f"own but {{{param}}} bob's"] = response.status_code
            if response.status_code not in REFUSED:
                cross_user.append(f"{call.label} with bob's {{{param}}}: {response.status_code}")
        outcomes[call.label] = seen
        if guarded:
            expected_refusals = {"none": 401, "other": 403} | {name: 403 for name in seen if name.startswith("own but")}
            if any(seen[name] != status for name, status in expected_refusals.items()) or not served(seen["own"]):
                wrong.append(f"{call.label}: {seen}")
        elif not all(served(status) for status in seen.values()):
            wrong.append(f"{call.label} (public): {seen}")

    assert cross_user == [], f"{len(cross_user)} cross-user accesses"
    assert wrong == [], "\n".join(wrong)
    assert len(outcomes) == len(CALLS)


def served(status: int) -> bool:
    """The service itself answered: a success or its own refusal, never the gateway's 401/403 or a failure."""
    return status not in REFUSED and status < 500


# Internal routes: not routed, with or without a session.
INTERNAL = (
    ("DELETE", "/api/cart/cart/{anonymous}"),
    ("POST", "/api/cart/shipping/{anonymous}"),
    ("GET", "/api/user/check/{user}"),
    ("POST", "/api/user/order/{user}"),
    ("GET", "/api/user/users/{user}"),
    ("GET", "/api/user/users"),
    ("GET", "/api/user/.well-known/jwks.json"),
    ("GET", "/api/shipping/memory"),
    ("GET", "/api/shipping/free"),
)


@pytest.mark.parametrize(("method", "template"), INTERNAL)
def test_an_internal_route_is_not_routed_even_for_the_session_that_owns_its_identity(
    shop: RunningShop, alice: Shopper, method: str, template: str
) -> None:
    path = template.format(anonymous=alice.anonymous, user=alice.user)
    for headers in ({}, {"Authorization": f"Bearer {alice.token}"}):
        response = httpx.request(method, f"{shop.gateway}{path}", headers=headers, json={}, timeout=30)
        # 404: no such public route; 405: the path is public for another method (GET /cart/{id}), not this one.
        expected = 405 if template == "/api/cart/cart/{anonymous}" else 404
        assert response.status_code == expected, (path, headers.keys(), response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_a_delete_through_the_gateway_leaves_the_cart_in_place(shop: RunningShop, alice: Shopper) -> None:
    own = {"Authorization": f"Bearer {alice.token}"}
    added = httpx.get(f"{shop.gateway}/api/cart/add/{alice.anonymous}/RMC/1", headers=own, timeout=30)
    assert added.status_code == 200, added.text
    deleted = httpx.delete(f"{shop.gateway}/api/cart/cart/{alice.anonymous}", headers=own, timeout=30)
    assert (deleted.status_code, deleted.headers["allow"]) == (405, "GET, HEAD")
    assert httpx.get(f"{shop.gateway}/api/cart/cart/{alice.anonymous}", headers=own, timeout=30).json() == added.json()
