"""The user service's routes.

Public through the gateway (``/api/user/...``), Robot Shop compatible with its plain-text messages (Decision
Q3) and without passwords or hashes in any answer (Decision Q6): ``/health``, ``/uniqueid``, ``/login``,
``/register``, ``/history/{name}``. Internal (service to service, not in the gateway's table): ``/check/{name}``,
``/order/{name}``, ``/users/{id}`` and the JWKS the gateway verifies sessions with. The original's
``GET /users`` (every user with their password) does not exist here.

``/uniqueid``, ``/login`` and ``/register`` answer with a session cookie. A request that already carries a
valid session (cookie or ``Authorization: Bearer``) gets a token owning its old identities and the new one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any, TypeGuard
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CollectorRegistry, Counter
from pydantic import BaseModel, Field

from roboshop.kit.errors import BadRequest, NotFound
from roboshop.kit.internal import InternalCaller
from roboshop.user.domain import (
    HISTORY_NOT_FOUND,
    INCORRECT_PASSWORD,
    INSUFFICIENT_DATA,
    NAME_EXISTS,
    NAME_NOT_FOUND,
    NOT_SUPPLIED,
    USER_NOT_FOUND,
    User,
    anonymous_id,
    identities_after,
    may_be_a_name,
    new_object_id,
    new_order,
    registration_problem,
)
from roboshop.user.keys import SigningKeys
from roboshop.user.passwords import PasswordHasher
from roboshop.user.settings import UserSettings
from roboshop.user.store import UserStore
from roboshop.user.tokens import COOKIE_NAME, JWKS_PATH, InvalidSession, Session, session_token

HEALTH_TIMEOUT_S = 1.0
JWKS_MAX_AGE_S = 60

router = APIRouter()


class UserMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.logins = Counter("user_logins_total", "Login attempts, by outcome", ("outcome",), registry=registry)
        self.registrations = Counter("user_registrations_total", "Users registered", registry=registry)
        self.anonymous_ids = Counter("user_anonymous_ids_total", "Anonymous ids handed out", registry=registry)


@dataclass(frozen=True)
class Services:
    """What the routes work with; built by the app factory and kept in ``app.state.services``."""

    users: UserStore
    keys: SigningKeys
    hasher: PasswordHasher
    settings: UserSettings
    metrics: UserMetrics


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


Deps = Annotated[Services, Depends(_services)]


class UserHealth(BaseModel):
    app: str = "OK"
    mongo: bool = Field(description="whether the database answered (the name is Robot Shop's)")


class UniqueId(BaseModel):
    uuid: str = Field(examples=["anonymous-42"])


class UserRead(BaseModel):
    id: str = Field(alias="_id")
    name: str
    email: str


class OrderRead(BaseModel):
    orderid: str
    cart: dict[str, Any]


class HistoryRead(BaseModel):
    id: str = Field(alias="_id")
    name: str
    history: list[OrderRead]


class UserRef(BaseModel):
    id: str
    name: str


class TextResponse(PlainTextResponse):
    """Robot Shop's Express sent its text answers as text/html; documented so, too."""

    media_type = "text/html"


_FIELDS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}},
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            },
        },
    }
}


@router.get("/health", response_model=UserHealth)
async def health(deps: Deps) -> Response:
    """Liveness in Robot Shop's shape; ``mongo`` says whether the database answered. Always 200."""
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            await deps.users.ping()
    except Exception:
        answered = False
    else:
        answered = True
    return _json({"app": "OK", "mongo": answered})


@router.get("/uniqueid", response_model=UniqueId)
async def uniqueid(request: Request, deps: Deps) -> Response:
    """A new anonymous id (``anonymous-<n>``, unique shop-wide) and a session that owns it."""
    identity = anonymous_id(await deps.users.next_anonymous_number())
    deps.metrics.anonymous_ids.inc()
    response = _json({"uuid": identity})
    await _start_session(request, response, deps, identity)
    return response


@router.post(
    "/login",
    response_model=UserRead,
    responses={400: {"description": NOT_SUPPLIED}, 404: {"description": f"{NAME_NOT_FOUND} / {INCORRECT_PASSWORD}"}},
    openapi_extra=_FIELDS_BODY,
)
async def login(request: Request, deps: Deps) -> Response:
    """Check a name and password (JSON or form); on success the session also owns the name."""
    fields = await _fields(request)
    name, password = fields.get("name"), fields.get("password")
    if not _given(name) or not _given(password):
        raise BadRequest(NOT_SUPPLIED, text=True)
    user = await deps.users.user(name) if may_be_a_name(name) else None
    # Unknown names are checked against a dummy hash: the same work, so timing does not reveal them.
    matches = await deps.hasher.verify(user.password_hash if user else None, password)
    if user is None:
        deps.metrics.logins.labels("unknown_name").inc()
        raise NotFound(NAME_NOT_FOUND, text=True)
    if not matches:
        deps.metrics.logins.labels("wrong_password").inc()
        raise NotFound(INCORRECT_PASSWORD, text=True)
    deps.metrics.logins.labels("success").inc()
    if deps.hasher.needs_rehash(user.password_hash):
        await deps.users.replace_password_hash(user.name, await deps.hasher.hash(password))
    response = _json(user.to_wire())
    await _start_session(request, response, deps, user.name)
    return response


@router.post(
    "/register",
    response_class=TextResponse,
    responses={400: {"description": f"{INSUFFICIENT_DATA} / {NAME_EXISTS} / what is wrong with a field"}},
    openapi_extra=_FIELDS_BODY,
)
async def register(request: Request, deps: Deps) -> Response:
    """A new user (name 1-64 of ``A-Za-z0-9._-``, a plausible email, a password of 8-128 characters);
    the session also owns the name."""
    fields = await _fields(request)
    name, email, password = fields.get("name"), fields.get("email"), fields.get("password")
    if not _given(name) or not _given(email) or not _given(password):
        raise BadRequest(INSUFFICIENT_DATA, text=True)
    problem = registration_problem(name, email, password)
    if problem is not None:
        raise BadRequest(problem, text=True)
    if await deps.users.user(name) is not None:
        raise BadRequest(NAME_EXISTS, text=True)
    password_hash = await deps.hasher.hash(password)
    if not await deps.users.add_user(User(new_object_id(), name, email, password_hash)):
        raise BadRequest(NAME_EXISTS, text=True)  # registered by a concurrent request meanwhile
    deps.metrics.registrations.inc()
    response = _text("OK")
    await _start_session(request, response, deps, name)
    return response


@router.get("/check/{name}", response_class=TextResponse, responses={404: {"description": USER_NOT_FOUND}})
async def check(name: str, deps: Deps, _: InternalCaller) -> Response:
    """Internal: whether a user of that name exists."""
    if not may_be_a_name(name) or await deps.users.user(name) is None:
        raise NotFound(USER_NOT_FOUND, text=True)
    return _text("OK")


@router.post(
    "/order/{name}",
    response_class=TextResponse,
    responses={404: {"description": NAME_NOT_FOUND}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}},
)
async def add_order(name: str, request: Request, deps: Deps, _: InternalCaller) -> Response:
    """Internal (payment): append ``{"orderid", "cart"}`` to the user's history; a repeat is a no-op."""
    fields = await _fields(request)
    try:
        order = new_order(fields.get("orderid"), fields.get("cart"))
    except ValueError as exc:
        raise BadRequest(str(exc), text=True) from None
    if not may_be_a_name(name) or not await deps.users.add_order(name, order):
        raise NotFound(NAME_NOT_FOUND, text=True)
    return _text("OK")


@router.get("/history/{name}", response_model=HistoryRead, responses={404: {"description": HISTORY_NOT_FOUND}})
async def history(name: str, deps: Deps) -> Response:
    """The user's orders, oldest first."""
    orders = await deps.users.history(name) if may_be_a_name(name) else []
    user = await deps.users.user(name) if orders else None
    if user is None:
        raise NotFound(HISTORY_NOT_FOUND, text=True)
    return _json({"_id": user.object_id, "name": user.name, "history": [order.to_wire() for order in orders]})


@router.get("/users/{id}", response_model=UserRef, responses={404: {"description": USER_NOT_FOUND}})
async def user_ref(id: str, deps: Deps, _: InternalCaller) -> Response:
    """Internal: a user by name or by ``_id``, as ``{"id", "name"}`` (nothing else)."""
    user = (await deps.users.user(id) or await deps.users.user_by_object_id(id)) if may_be_a_name(id) else None
    if user is None:
        raise NotFound(USER_NOT_FOUND, text=True)
    return _json({"id": user.object_id, "name": user.name})


@router.get(JWKS_PATH)
async def jwks(deps: Deps) -> Response:
    """The public keys session tokens are signed with (RFC 7517), including the next key before it signs."""
    response = _json(await deps.keys.jwks())
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE_S}"
    return response


async def _start_session(request: Request, response: Response, deps: Deps, identity: str) -> None:
    session = await _current_session(request, deps)
    owned = session.identities if session is not None else ()
    token = await deps.keys.issue(identities_after(owned, identity))
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=deps.settings.token_ttl_s,
        path="/",
        secure=deps.settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )
    response.headers["Cache-Control"] = "no-store"


async def _current_session(request: Request, deps: Deps) -> Session | None:
    """The session the request already carries, if its token is valid (an invalid one is ignored)."""
    token = session_token(request.cookies, request.headers.get("authorization"))
    if token is None:
        return None
    try:
        return await deps.keys.verify(token)
    except InvalidSession:
        return None


async def _fields(request: Request) -> dict[str, Any]:
    """The body's fields, from JSON or a urlencoded form (Robot Shop's Express accepted both)."""
    body = await request.body()
    if not body.strip():
        return {}
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise BadRequest("send the fields as JSON (application/json) or as a form", text=True)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("the body is not valid JSON", text=True) from None
    if not isinstance(parsed, dict):
        raise BadRequest("the body must be a JSON object", text=True)
    return parsed


def _given(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""


def _text(content: str) -> Response:
    return TextResponse(content)


def _json(content: Any) -> Response:
    return Response(orjson.dumps(content), media_type="application/json")
