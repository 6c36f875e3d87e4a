"""The local profile's plan: which processes ``roboshop up`` starts, with what configuration."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from roboshop.cli.local import MAX_REPLICAS, LocalPlan, parse_replicas
from roboshop.cli.services import ALL_SERVICES, DOMAIN_SERVICES, GATEWAY, REGISTRY
from roboshop.cli.supervisor import ProcessSpec


def test_replicas_are_parsed_per_service() -> None:
    assert parse_replicas(["catalogue=3", " ratings = 2"]) == {"catalogue": 3, "ratings": 2}


def test_no_replica_arguments_mean_one_of_each() -> None:
    assert parse_replicas([]) == {}


def test_the_last_value_for_a_service_wins() -> None:
    assert parse_replicas(["catalogue=3", "catalogue=2"]) == {"catalogue": 2}


@pytest.mark.parametrize("value", ["catalogue", "catalogue=", "catalogue=three", "catalogue=-1", "catalogue:3"])
def test_a_replica_argument_that_is_not_service_equals_n_is_refused_with_an_example(value: str) -> None:
    with pytest.raises(ValueError, match=r"SERVICE=N, for example catalogue=3"):
        parse_replicas([value])


def test_an_unknown_service_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown service 'frobnicator' \(known: registry, .*gateway\)"):
        parse_replicas(["frobnicator=2"])


@pytest.mark.parametrize("count", [0, MAX_REPLICAS + 1])
def test_a_replica_count_out_of_range_is_refused(count: int) -> None:
    with pytest.raises(ValueError, match=f"between 1 and {MAX_REPLICAS}"):
        parse_replicas([f"catalogue={count}"])


def test_the_largest_replica_count_is_accepted() -> None:
    assert parse_replicas([f"catalogue={MAX_REPLICAS}"]) == {"catalogue": MAX_REPLICAS}


def test_the_registry_cannot_be_scaled() -> None:
    with pytest.raises(ValueError, match="registry runs as a single instance"):
        parse_replicas(["registry=2"])
    assert parse_replicas(["registry=1"]) == {"registry": 1}


@pytest.fixture
def plan(tmp_path: Path) -> LocalPlan:
    return LocalPlan("127.0.0.1", 8080, 8500, tmp_path, {"catalogue": 3})


def by_instance(plan: LocalPlan) -> dict[str, ProcessSpec]:
    return {process.instance: process for process in plan.processes()}


def test_the_plan_has_one_process_per_replica(plan: LocalPlan) -> None:
    processes = plan.processes()

    expected = [f"{svc.name}-{n}" for svc in ALL_SERVICES for n in range(1, (3 if svc.name == "catalogue" else 1) + 1)]
    assert [p.instance for p in processes] == expected
    assert plan.instance_names() == expected
    assert {p.instance for p in processes} >= {"catalogue-1", "catalogue-2", "catalogue-3"}
    assert len({p.env["ROBOSHOP_CATALOGUE_INSTANCE_ID"] for p in processes if p.service == "catalogue"}) == 3


def test_every_process_runs_its_services_module_with_this_python(plan: LocalPlan) -> None:
    for process in plan.processes():
        svc = next(s for s in ALL_SERVICES if s.name == process.service)
        assert process.argv == (sys.executable, "-m", svc.module)
        assert process.env["PYTHONUNBUFFERED"] == "1"


def test_the_gateway_listens_on_the_public_port_and_stops_first(plan: LocalPlan) -> None:
    gateway = by_instance(plan)["gateway-1"]

    assert gateway.env["ROBOSHOP_GATEWAY_PORT"] == "8080"
    assert gateway.env["ROBOSHOP_GATEWAY_REGISTRY_URL"] == "http://127.0.0.1:8500"
    assert gateway.env["ROBOSHOP_GATEWAY_DISCOVERY"] == "registry"
    assert gateway.stop_order == 0


def test_the_registry_listens_on_its_port_without_a_registry_of_its_own_and_stops_last(plan: LocalPlan) -> None:
    registry = by_instance(plan)["registry-1"]

    assert registry.env["ROBOSHOP_REGISTRY_PORT"] == "8500"
    assert "ROBOSHOP_REGISTRY_REGISTRY_URL" not in registry.env
    assert registry.env["ROBOSHOP_REGISTRY_DISCOVERY"] == "static"
    assert registry.stop_order == 2


def test_domain_services_pick_a_free_port_and_register(plan: LocalPlan) -> None:
    for process in plan.processes():
        if process.service in (GATEWAY.name, REGISTRY.name):
            continue
        prefix = f"ROBOSHOP_{process.service.upper()}_"
        assert process.env[f"{prefix}PORT"] == "0"
        assert process.env[f"{prefix}HOST"] == "127.0.0.1"
        assert process.env[f"{prefix}INSTANCE_ID"] == process.instance
        assert process.env[f"{prefix}DISCOVERY"] == "registry"
        assert process.env[f"{prefix}REGISTRY_URL"] == plan.registry_url
        assert process.stop_order == 1


def test_stop_orders_put_the_gateway_before_the_services_before_the_registry(plan: LocalPlan) -> None:
    orders = {p.service: p.stop_order for p in plan.processes()}

    assert (
        orders[GATEWAY.name]
        < min(orders[s.name] for s in DOMAIN_SERVICES)
        <= max(orders[s.name] for s in DOMAIN_SERVICES)
        < orders[REGISTRY.name]
    )


def test_each_database_service_has_its_own_sqlite_file_in_the_data_dir(plan: LocalPlan, tmp_path: Path) -> None:
    urls: dict[str, set[str]] = {}
    for process in plan.processes():
        svc = next(s for s in ALL_SERVICES if s.name == process.service)
        key = f"ROBOSHOP_{process.service.upper()}_{svc.database_setting}"
        if svc.database:
            urls.setdefault(process.service, set()).add(process.env[key])
        else:
            assert key not in process.env

    assert urls
    assert all(len(found) == 1 for found in urls.values()), "replicas of a service share its database"
    files = {service: Path(next(iter(found)).removeprefix("sqlite:///")) for service, found in urls.items()}
    assert len(set(files.values())) == len(files), "no two services share a database file"
    for service, path in files.items():
        assert path == tmp_path / f"{service}.db"


def test_the_plans_urls_use_its_host_and_ports(tmp_path: Path) -> None:
    plan = LocalPlan("127.0.0.2", 9080, 9500, tmp_path, {})

    assert plan.gateway_url == "http://127.0.0.2:9080"
    assert plan.registry_url == "http://127.0.0.2:9500"
    assert by_instance(plan)["catalogue-1"].env["ROBOSHOP_CATALOGUE_HOST"] == "127.0.0.2"
