"""What the fuzz tests share: a service served by uvicorn in a thread, its state, the checks, hand-picked bad input.

Schemathesis drives requests synchronously (Hypothesis cannot run async tests), so the service runs on its own event
loop in a background thread, behind uvicorn with uvloop and httptools as ``kit.runner`` serves it: the fuzzer's bytes
go through the same HTTP parser the gateway talks to. Each service keeps its data in a SQLite file; reading every
table of it (and what its fake peers were told) before and after a request is how a test proves that a refused
request changed nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import orjson
import requests
import schemathesis
import uvicorn
import uvloop
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import checks

from roboshop.kit.runner import bind_socket

START_DEADLINE_S = 15.0
CALL_TIMEOUT_S = 10.0
SEED = 20240917

# Bounded and repeatable for CI: the same examples on every run, no example database, no per-example deadline
# (the first request of a route may pay for a cold cache). ROBOSHOP_FUZZ_MAX_EXAMPLES=1000 digs deeper by hand.
MAX_EXAMPLES = int(os.environ.get("ROBOSHOP_FUZZ_MAX_EXAMPLES", "50"))
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

FuzzCase: TypeAlias = "schemathesis.Case[Any]"
Route = tuple[str, str]
"""``("GET", "/cart/{id}")``: a method and a path template of the OpenAPI description."""


def route_of(case: FuzzCase) -> Route:
    return case.operation.method.upper(), case.operation.path


def documented_status(ctx: Any, response: schemathesis.Response, case: FuzzCase) -> bool | None:
    """The status is one the route documents."""
    result: bool | None = checks.status_code_conformance(ctx, response, case)
    return result


def documented_success_content_type(ctx: Any, response: schemathesis.Response, case: FuzzCase) -> bool | None:
    """A success has a content type the route documents. Errors are not checked: Robot Shop's plain-text error
    bodies are by design (Decision Q3)."""
    if not 200 <= response.status_code < 300:
        return None
    result: bool | None = checks.content_type_conformance(ctx, response, case)
    return result


def schema_violation_refused(ctx: Any, response: schemathesis.Response, case: FuzzCase) -> bool | None:
    """A request that breaks the documented schema gets a 4xx."""
    result: bool | None = checks.negative_data_rejection(ctx, response, case)
    return result


CHECKS = [
    checks.not_a_server_error,
    documented_status,
    documented_success_content_type,
    checks.response_schema_conformance,
    schema_violation_refused,
]

Build = Callable[[AsyncExitStack], Awaitable[FastAPI]]
State = tuple[dict[str, list[tuple[Any, ...]]], object]


@dataclass
class RunningService:
    """A service answering on ``url``; ``database`` is its SQLite file, ``peer_state`` what its fake peers hold."""

    url: str
    database: Path
    app: FastAPI
    peer_state: Callable[[], object] = lambda: None
    session: requests.Session = field(default_factory=requests.Session)

    def call(self, case: FuzzCase) -> schemathesis.Response:
        # One connection for the whole run, but no cookie carried from one example to the next.
        self.session.cookies.clear()
        return case.call(base_url=self.url, session=self.session, timeout=CALL_TIMEOUT_S)

    def send(
        self,
        method: str,
        path: str,
        body: bytes | Iterator[bytes] = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """A hand-written request, its path sent exactly as written (HTTP clients such as requests resolve ``..``
        and unescape ``%2E``), on a connection of its own. A body given as chunks is streamed (no length)."""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=CALL_TIMEOUT_S)
        try:
            streamed = not isinstance(body, bytes)
            # The server may answer (and close) before the whole body is sent: then read that answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                connection.request(method, path, body=body, headers=dict(headers or {}), encode_chunked=streamed)
            response = connection.getresponse()
            return Answer(response.status, response.getheader("content-type") or "", response.read())
        finally:
            connection.close()

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    def state(self) -> State:
        return database_rows(self.database), self.peer_state()

    @property
    def max_body_bytes(self) -> int:
        limit: int = self.app.state.settings.max_body_bytes
        return limit


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def database_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of a SQLite database, in a stable order."""
    connection = sqlite3.connect(path, timeout=CALL_TIMEOUT_S)
    try:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {table: sorted(connection.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr) for table in tables}
    finally:
        connection.close()


@contextmanager
def running_service(
    build: Build, database: Path, *, peer_state: Callable[[], object] = lambda: None
) -> Iterator[RunningService]:
    """Serve the app ``build`` makes (with the peers it starts on its exit stack) until the block ends."""
    started: Future[tuple[RunningService, uvicorn.Server]] = Future()

    async def serve() -> None:
        try:
            async with AsyncExitStack() as stack:
                app = await build(stack)
                sock = bind_socket("127.0.0.1", 0)
                stack.callback(sock.close)
                config = uvicorn.Config(
                    app,
                    log_config=None,
                    access_log=False,
                    lifespan="on",
                    http="httptools",
                    timeout_graceful_shutdown=1,
                    server_header=False,
                )
                server = uvicorn.Server(config)
                serving = asyncio.create_task(server.serve(sockets=[sock]))
                # uvicorn exposes start-up only as a flag.
                while not server.started:
                    if serving.done():
                        await serving
                        raise RuntimeError("the service stopped during start-up")
                    await asyncio.sleep(0.01)
                url = f"http://127.0.0.1:{sock.getsockname()[1]}"
                started.set_result((RunningService(url, database, app, peer_state), server))
                await serving
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise

    thread = threading.Thread(target=uvloop.run, args=(serve(),), name="fuzzed-service", daemon=True)
    thread.start()
    service, server = started.result(START_DEADLINE_S)
    try:
        yield service
    finally:
        service.session.close()
        server.should_exit = True  # uvicorn polls the flag on its own loop
        thread.join(START_DEADLINE_S)
        assert not thread.is_alive(), "the service did not stop"


def fuzz_schema(app: FastAPI, known: Mapping[str, Sequence[str]] | None = None) -> schemathesis.BaseSchema:
    """The app's own OpenAPI description as a schemathesis schema.

    ``known`` maps path parameter names to values the running service holds (a real cart, a real SKU): the fuzzer
    mixes them into what it generates, so requests meet existing state, which a refused request must leave alone.
    """
    config = schemathesis.Config.from_dict({"seed": SEED})
    schema = schemathesis.openapi.from_dict(app.openapi(), config=config)
    if known:
        schema.hook("before_generate_path_parameters")(_mixing_in(known))
    return schema


def _mixing_in(known: Mapping[str, Sequence[str]]) -> Callable[[Any, st.SearchStrategy[Any]], st.SearchStrategy[Any]]:
    def mix(context: Any, strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        def some_known(parameters: Any) -> st.SearchStrategy[Any]:
            if not isinstance(parameters, dict):
                return st.just(parameters)
            return st.fixed_dictionaries(
                {name: st.sampled_from([value, *known.get(name, ())]) for name, value in parameters.items()}
            )

        return strategy.flatmap(some_known)

    return mix


def exercise(service: RunningService, case: FuzzCase, *, read_only: bool = False) -> schemathesis.Response:
    """Send ``case``: never a 5xx, a documented status, a documented shape, and a refusal (4xx) changes nothing (on
    a ``read_only`` route, no request does)."""
    before = service.state()
    response = service.call(case)
    case.validate_response(response, checks=CHECKS)
    if read_only or 400 <= response.status_code < 500:
        assert service.state() == before, (
            f"{case.operation.label} answered {response.status_code} {response.text[:200]!r} and changed the state; "
            f"reproduce with: {case.as_curl_command(base_url=service.url)}"
        )
    return response


def assert_refused_clearly(answer: Answer) -> None:
    """A 4xx whose body says what is wrong: problem+json with a detail, or Robot Shop's plain-text message."""
    assert 400 <= answer.status < 500, f"{answer.status} {answer.text[:300]!r}"
    if answer.content_type.startswith("application/problem+json"):
        problem = orjson.loads(answer.body)
        assert problem["status"] == answer.status
        assert isinstance(problem["detail"], str), problem
        assert problem["detail"].strip(), problem
    else:
        assert answer.text.strip(), f"{answer.status} with an empty body"
    assert "Traceback" not in answer.text


# Path segments that property fuzzing rarely produces, as they go on the wire (percent-escapes stay escaped).
AWKWARD_SEGMENTS = (
    "x" * 5000,
    "a%2Fb",
    "%2F",
    "..",
    "%2E%2E",
    "a%00b",
    "%00",
    "%0A",
    "%FF%FE",
    "%C0%AF",
    "%F0%9F%A4%96",
    "e%CC%81",
    "%E2%80%AE",
    "%20",
    "%3F%23",
    "%25",
    "-1",
    "-9223372036854775809",
    "9223372036854775808",
    "9" * 400,
    "1e309",
    "NaN",
    "0x10",
    "%27%3B%20DROP%20TABLE%20x%3B--",
)


def fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with its path parameters taken from ``values``, and ``x`` for any other."""
    path = template
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", value)
    while "{" in path:
        start = path.index("{")
        path = path[:start] + "x" + path[path.index("}", start) + 1 :]
    return path


def parametrised_routes(app: FastAPI) -> list[tuple[Route, str]]:
    """Every (route, path parameter) of the app's OpenAPI description."""
    found = []
    for template, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    found.append(((method.upper(), template), parameter["name"]))
    return found


def assert_survives_awkward_segments(
    service: RunningService, known: Mapping[str, str], *, may_change: Callable[[Route], bool] = lambda route: True
) -> None:
    """Every path parameter of every route, given each awkward segment: never a 5xx, a refusal is clear and changes
    nothing, and a route that may not change anything does not."""
    problems = []
    for route, parameter in parametrised_routes(service.app):
        method, template = route
        for segment in AWKWARD_SEGMENTS:
            before = service.state()
            answer = service.send(method, fill(template, {**known, parameter: segment}))
            changed = service.state() != before
            problem = _problem_with(answer, changed=changed, may_change=may_change(route))
            if problem is not None:
                problems.append(f"{method} {template} with {parameter}={segment[:40]!r}: {problem}")
    assert not problems, "\n".join(problems)


def _problem_with(answer: Answer, *, changed: bool, may_change: bool) -> str | None:
    if answer.status >= 500:
        return f"{answer.status} {answer.text[:100]!r}"
    refused = 400 <= answer.status < 500
    if changed and (refused or not may_change):
        return f"answered {answer.status} and changed the state"
    if refused:
        try:
            assert_refused_clearly(answer)
        except AssertionError as exc:
            return str(exc)
    return None


UNKNOWN_PATHS = ("/no-such-route", "/%00", "/" + "x" * 5000, "/%F0%9F%A4%96", "/health/and/more")
UNUSED_METHOD = "PATCH"


def assert_unknown_routes_refused(service: RunningService, known: Mapping[str, str]) -> None:
    """Paths no route matches, and a method no route takes, get a clear 4xx and change nothing."""
    before = service.state()
    for path in UNKNOWN_PATHS:
        assert_refused_clearly(service.send("GET", path))
    for template in service.app.openapi()["paths"]:
        answer = service.send(UNUSED_METHOD, fill(template, known))
        assert answer.status == 405, f"{UNUSED_METHOD} {template}: {answer.status}"
        assert_refused_clearly(answer)
    assert service.state() == before


def assert_oversized_bodies_refused(service: RunningService, method: str, path: str, *, streamed: bool = True) -> None:
    """A body over the limit gets 413 and changes nothing, its length declared or (if ``streamed``) not."""
    before = service.state()
    body = b'{"name": "' + b"a" * service.max_body_bytes + b'"}'
    answers = [service.send(method, path, body, {"Content-Type": "application/json"})]
    if streamed:
        answers.append(service.send(method, path, _chunks(body), {"Content-Type": "application/json"}))
    for answer in answers:
        assert answer.status == 413, answer
        assert_refused_clearly(answer)
    assert service.state() == before


def _chunks(body: bytes, size: int = 65_536) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]
