"""The public route table: which ``/api/<service>/...`` paths and methods the gateway forwards.

The table is data (``routes.yaml``), validated on load so that a mistake names its entry and field.
It is compiled once into a :class:`Router` whose ``match`` runs no regular expression: a dict lookup
for literal paths, a comparison of raw path segments for templates with ``{params}``.

Matching works on the *raw* (still percent-encoded) path, so ``%2F`` never splits a segment; a parameter
that decodes to ``.``, ``..``, or contains ``/`` or NUL matches nothing, because the upstream would see a
different path than the one the table made public.

Each entry says who may call it: ``auth: public`` (the default) anyone, ``auth: session`` only a caller with
a valid session, and ``owns: [param, ...]`` only a session that owns the identity each of those path
parameters names (a cart id, a user name). The session policy (:mod:`roboshop.gateway.auth`) enforces it.
``auth: api_key`` admits only a known consumer (``X-API-Key``, see :mod:`roboshop.gateway.consumers`).

Rate limits (:mod:`roboshop.gateway.ratelimit`) are written in the ``limits`` notation (``"10/minute"``,
``"100 per 2 seconds"``, several separated by ``;``): ``rate_limit`` on a route limits each caller on that
route; ``consumers.<name>.rate_limit`` replaces the anonymous per-address limit for that consumer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import unquote

import yaml
from limits import RateLimitItem, parse_many
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

API_PREFIX = "/api/"
# Canonical order for the Allow header.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
Auth = Literal["public", "session", "api_key"]
PUBLIC: Final = "public"
SESSION: Final = "session"
API_KEY: Final = "api_key"
Balance = Literal["round_robin", "least_outstanding"]
ROUND_ROBIN: Final = "round_robin"
LEAST_OUTSTANDING: Final = "least_outstanding"

_SERVICE_NAME = re.compile(r"[a-z][a-z0-9-]*")
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# RFC 3986 pchar without percent-encoding: a literal segment is written as the client sends it.
_LITERAL = re.compile(r"[A-Za-z0-9._~!$&'()*+,;=:@-]+")


class RouteTableError(ValueError):
    """The route table file cannot be read or is invalid; the message says where."""


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class CorsEntry(BaseModel):
    """Cross-origin access to a route from the listed origins (``*``: any, never with credentials)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    origins: list[str] = Field(min_length=1)
    headers: list[str] = Field(default_factory=list, description="request headers a caller may send")
    credentials: bool = False
    max_age_s: int = Field(default=600, ge=0, le=86_400)

    @field_validator("origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin != "*" and not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]+)?", origin):
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com or '*'")
        return origins

    @field_validator("headers")
    @classmethod
    def _header_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"{name!r} is not a header name")
        return names

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> CorsEntry:
        if self.credentials and "*" in self.origins:
            raise ValueError("credentials cannot be allowed for any origin ('*'): list the origins")
        return self


class RouteEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    methods: list[str] = Field(min_length=1)
    path: str
    auth: Auth = PUBLIC
    owns: list[str] = Field(default_factory=list)
    rate_limit: str | None = None
    max_body_bytes: int | None = Field(default=None, gt=0, description="instead of the gateway's max_body_bytes")
    cors: CorsEntry | None = None
    response_headers: dict[str, str] = Field(default_factory=dict, description="added to every response")

    @field_validator("rate_limit")
    @classmethod
    def _valid_rate_limit(cls, value: str | None) -> str | None:
        return None if value is None else valid_rate_limit(value)

    @field_validator("response_headers")
    @classmethod
    def _valid_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"{name!r} is not a header name")
            if any(char in value for char in "\r\n\x00") or not value.isascii():
                raise ValueError(f"the value of {name} must be ASCII without line breaks or NUL")
        return headers

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        upper = [method.upper() for method in methods]
        unknown = sorted(set(upper) - set(HTTP_METHODS))
        if unknown:
            raise ValueError(f"unknown method(s) {unknown}; use {list(HTTP_METHODS)}")
        if len(set(upper)) != len(upper):
            raise ValueError("a method is listed twice")
        return upper

    @field_validator("path")
    @classmethod
    def _valid_template(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("must start with '/'")
        if path == "/":
            return path
        names: list[str] = []
        for segment in path[1:].split("/"):
            param = _PARAM.fullmatch(segment)
            if param is not None:
                names.append(param.group(1))
            elif not segment:
                raise ValueError("empty segment (a '//' or a trailing '/')")
            elif segment in (".", "..") or not _LITERAL.fullmatch(segment):
                raise ValueError(f"segment {segment!r} is neither a plain literal nor a whole-segment '{{param}}'")
        if len(set(names)) != len(names):
            raise ValueError("a parameter name is used twice")
        return path

    @field_validator("owns")
    @classmethod
    def _owned_parameters(cls, owns: list[str], info: ValidationInfo) -> list[str]:
        if not owns:
            return owns
        auth = info.data.get("auth")
        if auth is not None and auth != SESSION:  # None: auth is invalid and reported already
            raise ValueError("only a route with 'auth: session' can require owned identities")
        if len(set(owns)) != len(owns):
            raise ValueError("a parameter is listed twice")
        path = info.data.get("path")
        if path is None:  # the path is invalid and reported already
            return owns
        params = set(_PARAM.findall(path))
        unknown = [name for name in owns if name not in params]
        if unknown:
            raise ValueError(f"no parameter {', '.join(repr(name) for name in unknown)} in {path}")
        return owns


class ServiceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float | None = Field(default=None, gt=0)
    balance: Balance = ROUND_ROBIN
    routes: list[RouteEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _no_duplicates(self) -> ServiceEntry:
        seen: set[tuple[str, str]] = set()
        for entry in self.routes:
            for method in entry.methods:
                key = (_shape(entry.path), method)
                if key in seen:
                    raise ValueError(f"{method} {entry.path} is declared twice")
                seen.add(key)
        return self


_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class ConsumerEntry(BaseModel):
    """A known API client: its key is stored only as the SHA-256 of the key (lower-case hex)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_sha256: str
    rate_limit: str | None = None

    @field_validator("key_sha256", mode="before")
    @classmethod
    def _quoted(cls, value: object) -> object:
        if isinstance(value, int | float):  # YAML reads an unquoted digest of digits (and one 'e') as a number
            raise ValueError("quote the digest: YAML read it as a number")
        return value

    @field_validator("key_sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        if not _SHA256_HEX.fullmatch(value):
            raise ValueError("must be the SHA-256 of the key as 64 lower-case hex digits (never the key itself)")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _valid_rate_limit(cls, value: str | None) -> str | None:
        return None if value is None else valid_rate_limit(value)


class RouteTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    services: dict[str, ServiceEntry] = Field(min_length=1)
    consumers: dict[str, ConsumerEntry] = Field(default_factory=dict)

    @field_validator("consumers")
    @classmethod
    def _distinct_keys(cls, consumers: dict[str, ConsumerEntry]) -> dict[str, ConsumerEntry]:
        seen: dict[str, str] = {}
        for name, entry in consumers.items():
            if not _SERVICE_NAME.fullmatch(name):
                raise ValueError(f"consumer name {name!r} must be lower-case letters, digits and '-'")
            if entry.key_sha256 in seen:
                raise ValueError(f"consumers {seen[entry.key_sha256]!r} and {name!r} have the same key")
            seen[entry.key_sha256] = name
        return consumers

    @field_validator("services")
    @classmethod
    def _service_names(cls, services: dict[str, ServiceEntry]) -> dict[str, ServiceEntry]:
        for name in services:
            if not _SERVICE_NAME.fullmatch(name):
                raise ValueError(f"service name {name!r} must be lower-case letters, digits and '-'")
        return services


def parse_rate_limit(value: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(value))


def valid_rate_limit(value: str) -> str:
    try:
        items = parse_rate_limit(value)
    except ValueError:
        items = ()
    if not items or any(item.amount < 1 for item in items):
        raise ValueError(f"{value!r} is not a rate limit such as '10/minute' or '100 per 2 seconds; 1000/hour'")
    return value


def _shape(path: str) -> str:
    """Two templates with the same shape (``/a/{x}`` and ``/a/{y}``) match exactly the same paths."""
    return _PARAM.sub("{}", path)


def load_route_table(path: Path) -> RouteTable:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RouteTableError(f"cannot read the route table {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RouteTableError(f"{path}: not valid YAML: {exc}") from exc
    return parse_route_table(data, source=str(path))


def parse_route_table(data: Any, *, source: str = "route table") -> RouteTable:
    try:
        return RouteTable.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_location(err['loc'], data)}: {_message(err['msg'])}" for err in exc.errors()]
        raise RouteTableError(f"{source}: invalid route table:\n  " + "\n  ".join(problems)) from None


def _location(loc: tuple[int | str, ...], data: Any) -> str:
    """``services.catalogue.routes[2] (/product/{sku}).methods``: the entry by index and by path."""
    text = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("path"), str):
                text += f" ({node['path']})"
        else:
            text += f".{part}" if text else part
            node = node.get(part) if isinstance(node, dict) else None
    return text or "(top level)"


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")


# Compiled form ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """One entry of the table: what policies attach to. Identity-hashed, so it is a cheap dict key."""

    service: str
    template: str
    methods: frozenset[str]
    timeout_s: float
    label: str  # the public template, e.g. /api/catalogue/product/{sku}: the metrics label
    _params: tuple[tuple[int, str], ...] = field(default=(), repr=False)
    auth: Auth = PUBLIC
    owns: tuple[str, ...] = ()  # the parameters whose identities the caller's session must own
    rate_limit: str | None = None  # per caller on this route, in the ``limits`` notation
    max_body_bytes: int | None = None
    cors: CorsEntry | None = None
    response_headers: tuple[tuple[bytes, bytes], ...] = ()
    _owned_at: tuple[tuple[int, str], ...] = field(default=(), repr=False)  # (segment index, param) of owns

    def params(self, rest: str) -> dict[str, str]:
        """The decoded ``{param}`` values of a path this route matched (``rest`` as given to ``match``)."""
        segments = rest.split("/")
        return {name: unquote(segments[index]) for index, name in self._params}

    def owned(self, rest: str) -> list[tuple[str, str]]:
        """``(param, decoded identity)`` for each parameter in ``owns``, in the order ``owns`` lists them."""
        segments = rest.split("/")
        return [(name, unquote(segments[index])) for index, name in self._owned_at]


@dataclass(frozen=True, slots=True)
class MethodNotAllowed:
    allow: str  # the Allow header value
    label: str  # the template that matched the path, for metrics


@dataclass(frozen=True, slots=True, eq=False)
class _Template:
    segments: tuple[str | None, ...]  # a literal raw segment, or None for a {param}
    by_method: dict[str, Route]
    not_allowed: MethodNotAllowed

    def matches(self, segments: list[str]) -> bool:
        for expected, actual in zip(self.segments, segments, strict=True):
            if expected is None:
                if not param_ok(actual):
                    return False
            elif expected != actual:
                return False
        return True


def param_ok(segment: str) -> bool:
    if not segment or segment == "." or segment == "..":
        return False
    if "%" not in segment:
        return True
    decoded = unquote(segment)
    return decoded not in (".", "..") and "/" not in decoded and "\x00" not in decoded


def _allow(methods: Iterable[str], label: str) -> MethodNotAllowed:
    present = set(methods)
    return MethodNotAllowed(", ".join(method for method in HTTP_METHODS if method in present), label)


class ServiceRoutes:
    def __init__(self, name: str, timeout_s: float, routes: list[Route], balance: Balance = ROUND_ROBIN) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.balance = balance
        self.routes = routes
        by_shape: dict[str, list[Route]] = {}
        for route in routes:
            by_shape.setdefault(_shape(route.template), []).append(route)
        self._literal: dict[str, _Template] = {}
        patterned: dict[int, list[_Template]] = {}
        for shape, group in by_shape.items():
            by_method = {method: route for route in group for method in sorted(route.methods)}
            # HEAD is served wherever GET is, unless an entry declares HEAD itself.
            for route in group:
                if "GET" in route.methods and "HEAD" not in by_method:
                    by_method["HEAD"] = route
            segments = tuple(None if segment == "{}" else segment for segment in shape.split("/"))
            template = _Template(segments, by_method, _allow(by_method, group[0].label))
            if None in segments:
                patterned.setdefault(len(segments) - 1, []).append(template)
            else:
                self._literal[shape] = template
        # Most specific first: a literal segment beats a parameter at the same position.
        self._patterned = {
            count: sorted(group, key=lambda t: tuple(segment is None for segment in t.segments))
            for count, group in patterned.items()
        }

    def match(self, method: str, rest: str) -> Route | MethodNotAllowed | None:
        """The route for ``method`` on ``rest`` (the raw path after ``/api/<service>``)."""
        not_allowed: MethodNotAllowed | None = None
        template = self._literal.get(rest)
        if template is not None:
            route = template.by_method.get(method)
            if route is not None:
                return route
            not_allowed = template.not_allowed
        candidates = self._patterned.get(rest.count("/"))
        if candidates:
            segments = rest.split("/")
            for template in candidates:
                if template.matches(segments):
                    route = template.by_method.get(method)
                    if route is not None:
                        return route
                    if not_allowed is None:
                        not_allowed = template.not_allowed
                    else:
                        methods = not_allowed.allow.split(", ") + template.not_allowed.allow.split(", ")
                        not_allowed = _allow(methods, not_allowed.label)
        return not_allowed


@dataclass(frozen=True, slots=True)
class Consumer:
    name: str
    key_sha256: str
    rate_limit: str | None = None


class Router:
    def __init__(self, services: dict[str, ServiceRoutes], consumers: tuple[Consumer, ...] = ()) -> None:
        self.services = services
        self.consumers = consumers

    @property
    def routes(self) -> list[Route]:
        return [route for service in self.services.values() for route in service.routes]

    def match(self, method: str, raw_path: str) -> tuple[Route | MethodNotAllowed | None, str]:
        """Match a raw ``/api/<service>/<rest>`` path; also returns ``rest``, the path the upstream sees."""
        end = raw_path.find("/", len(API_PREFIX))
        if end == -1:
            return None, ""
        service = self.services.get(raw_path[len(API_PREFIX) : end])
        if service is None:
            return None, ""
        rest = raw_path[end:]
        return service.match(method, rest), rest


def compile_routes(table: RouteTable, *, default_timeout_s: float) -> Router:
    services: dict[str, ServiceRoutes] = {}
    for name, entry in table.services.items():
        timeout_s = entry.timeout_s or default_timeout_s
        routes = [_compile(name, item, timeout_s) for item in entry.routes]
        services[name] = ServiceRoutes(name, timeout_s, routes, entry.balance)
    consumers = tuple(Consumer(name, entry.key_sha256, entry.rate_limit) for name, entry in table.consumers.items())
    return Router(services, consumers)


def _compile(service: str, item: RouteEntry, timeout_s: float) -> Route:
    params = tuple(
        (index, param.group(1))
        for index, segment in enumerate(item.path.split("/"))
        if (param := _PARAM.fullmatch(segment)) is not None
    )
    position = {name: index for index, name in params}
    return Route(
        service=service,
        template=item.path,
        methods=frozenset(item.methods) | ({"HEAD"} if "GET" in item.methods else set()),
        timeout_s=timeout_s,
        label=f"{API_PREFIX}{service}{item.path}",
        _params=params,
        auth=item.auth,
        owns=tuple(item.owns),
        rate_limit=item.rate_limit,
        max_body_bytes=item.max_body_bytes,
        cors=item.cors,
        response_headers=tuple(
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in item.response_headers.items()
        ),
        _owned_at=tuple((position[name], name) for name in item.owns),
    )
