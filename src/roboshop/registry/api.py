"""The registry's HTTP API, in the spirit of Consul's agent, health and catalog endpoints.

Field names are Consul's (PascalCase), so the kit's ``RegistryClient``/``RegistryDiscovery`` (and tools that
speak Consul's register call) work unchanged. Every read is answered from memory.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StrictInt, WithJsonSchema
from pydantic_core import PydanticCustomError
from starlette.datastructures import MutableHeaders

from roboshop.kit.errors import NotFound
from roboshop.registry import domain
from roboshop.registry.agent import Agent
from roboshop.registry.domain import Health, HealthCheck, ServiceInstance


class ConsulRoute(APIRoute):
    """Reads a request body as JSON whatever its content type.

    Consul's clients, and the ``curl --request PUT --data @payload.json`` calls in its documentation, send the
    JSON registration with a form content type or none at all.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            headers = MutableHeaders(scope=request.scope)
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if request.method == "PUT" and not (content_type == "application/json" or content_type.endswith("+json")):
                headers["content-type"] = "application/json"
            return await handler(request)

        return handle


router = APIRouter(prefix="/v1", route_class=ConsulRoute)
In = TypeVar("In")
Out = TypeVar("Out")

DEFAULT_INTERVAL = "10s"
MAX_DEFAULT_TIMEOUT_S = 10.0


def _rule(check: Callable[[In], Out]) -> Callable[[In], Out]:
    """A domain rule as a pydantic validator whose message is the rule's own (no "Value error, " prefix)."""

    def validate(value: In) -> Out:
        try:
            return check(value)
        except ValueError as exc:
            raise PydanticCustomError("value_error", str(exc)) from None

    return validate


def _duration(value: object) -> float:
    if not isinstance(value, str):
        raise PydanticCustomError("value_error", 'must be a duration string like "2s", "500ms" or "1m"')
    return _rule(domain.parse_duration)(value)


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    WithJsonSchema({"type": "string", "examples": ["2s", "500ms", "1m"]}),
]
InstanceId = Annotated[str, AfterValidator(_rule(domain.check_instance_id))]
ServiceName = Annotated[str, AfterValidator(_rule(domain.check_service_name))]
Address = Annotated[str, AfterValidator(_rule(domain.check_address))]
Tag = Annotated[str, AfterValidator(_rule(domain.check_tag))]
Meta = Annotated[dict[str, str], AfterValidator(_rule(domain.check_meta))]
HttpUrl = Annotated[str, AfterValidator(_rule(domain.check_http_url))]
Interval = Annotated[Duration, AfterValidator(_rule(domain.check_interval))]


class CheckDefinition(BaseModel):
    http: HttpUrl = Field(alias="HTTP")
    interval: Interval = Field(default=DEFAULT_INTERVAL, alias="Interval", validate_default=True)
    timeout: Duration | None = Field(default=None, alias="Timeout", description="default: the Interval, at most 10s")
    deregister_critical_service_after: Duration | None = Field(
        default=None,
        alias="DeregisterCriticalServiceAfter",
        description="remove the instance once it has been critical this long (default: never)",
    )


class ServiceRegistration(BaseModel):
    """``PUT /v1/agent/service/register`` (Consul's field names)."""

    id: InstanceId = Field(alias="ID")
    name: ServiceName = Field(alias="Name")
    address: Address = Field(alias="Address")
    port: StrictInt = Field(alias="Port", ge=1, le=65535)
    tags: list[Tag] = Field(default_factory=list, alias="Tags", max_length=domain.MAX_TAGS)
    meta: Meta = Field(default_factory=dict, alias="Meta")
    check: CheckDefinition = Field(alias="Check")

    def instance(self, now: float) -> ServiceInstance:
        interval = self.check.interval
        return ServiceInstance(
            id=self.id,
            service=self.name,
            address=self.address,
            port=self.port,
            tags=tuple(dict.fromkeys(self.tags)),
            meta=self.meta,
            check=HealthCheck(
                http=self.check.http,
                interval_s=interval,
                timeout_s=self.check.timeout or min(interval, MAX_DEFAULT_TIMEOUT_S),
                deregister_after_s=self.check.deregister_critical_service_after,
            ),
            health=Health.awaiting_first_check(now),
        )


def _agent(request: Request) -> Agent:
    agent: Agent = request.app.state.agent
    return agent


AgentDep = Annotated[Agent, Depends(_agent)]


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@router.put("/agent/service/register")
async def register_service(registration: ServiceRegistration, agent: AgentDep) -> Response:
    """Register an instance, or update it: re-registering an unchanged address and port keeps its status.

    An instance not known to be passing is checked at once, so one that registers once it serves is
    handed out almost immediately.
    """
    await agent.register(registration.instance(agent.now()))
    return Response(status_code=200)


@router.put("/agent/service/deregister/{instance_id}")
async def deregister_service(instance_id: str, agent: AgentDep) -> Response:
    """Remove an instance (404 if the registry does not know it)."""
    if not await agent.deregister(instance_id):
        raise NotFound(f"no service instance with ID '{instance_id[:200]}' is registered")
    return Response(status_code=200)


@router.get("/health/service/{service}")
async def service_health(
    service: str,
    agent: AgentDep,
    passing: Annotated[str | None, Query(description="present, or true: passing instances only")] = None,
) -> Response:
    """The instances of a service with their check, sorted by ID."""
    instances = agent.of_service(service, passing_only=_flag(passing))
    return _json([_health_entry(instance) for instance in instances])


@router.get("/catalog/services")
async def catalog_services(agent: AgentDep) -> Response:
    """Every registered service name with the tags of its instances."""
    return _json(agent.services())


@router.get("/agent/services")
async def agent_services(agent: AgentDep) -> Response:
    """Every registered instance by ID, with its status."""
    return _json({instance.id: _agent_entry(instance) for instance in agent.all()})


@router.get("/sd/prometheus")
async def prometheus_targets(agent: AgentDep) -> Response:
    """Prometheus HTTP service discovery: one target group per instance, its ``/metrics`` endpoint."""
    return _json(
        [
            {
                "targets": [instance.metrics_target],
                "labels": {
                    "__metrics_path__": "/metrics",
                    "service": instance.service,
                    "instance_id": instance.id,
                    "status": instance.health.status.value,
                },
            }
            for instance in agent.all()
        ]
    )


def _flag(value: str | None) -> bool:
    # Consul treats a bare ``?passing`` as true.
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("", "1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise _bad_query("passing", "must be true or false")


def _bad_query(name: str, message: str) -> Exception:
    return RequestValidationError([{"loc": ("query", name), "msg": message, "type": "value_error"}])


def _timestamp(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _service_fields(instance: ServiceInstance) -> dict[str, Any]:
    return {
        "ID": instance.id,
        "Service": instance.service,
        "Address": instance.address,
        "Port": instance.port,
        "Tags": list(instance.tags),
        "Meta": instance.meta,
    }


def _health_entry(instance: ServiceInstance) -> dict[str, Any]:
    return {
        "Service": _service_fields(instance),
        "Checks": [
            {
                "CheckID": f"service:{instance.id}",
                "Status": instance.health.status.value,
                "Output": instance.health.output,
                "LastCheck": _timestamp(instance.health.last_check),
            }
        ],
    }


def _agent_entry(instance: ServiceInstance) -> dict[str, Any]:
    return _service_fields(instance) | {
        "Status": instance.health.status.value,
        "Output": instance.health.output,
        "LastCheck": _timestamp(instance.health.last_check),
    }
