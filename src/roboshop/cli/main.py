"""``roboshop``: start the whole system locally (``up``) and see how it is doing (``status``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from roboshop.cli.registry_view import RegistryUnreachable, as_json, fetch_instances
from roboshop.cli.state import read_state

app = typer.Typer(
    help="RoboShop: Stan's Robot Shop as Python microservices.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
DEFAULT_DATA_DIR = Path(".roboshop")
DEFAULT_REGISTRY_PORT = 8500


@app.command()
def up(
    port: Annotated[int, typer.Option(help="Port of the gateway (the shop's public entry).")] = 8080,
    registry_port: Annotated[int, typer.Option(help="Port of the service registry.")] = DEFAULT_REGISTRY_PORT,
    data_dir: Annotated[Path, typer.Option(help="Where SQLite files and state live.")] = DEFAULT_DATA_DIR,
    replicas: Annotated[
        list[str] | None, typer.Option(help="SERVICE=N runs N instances of a service (repeatable).")
    ] = None,
    host: Annotated[str, typer.Option(help="Loopback address every process binds to.")] = "127.0.0.1",
    raw_logs: Annotated[bool, typer.Option(help="Print the services' JSON log lines as they are.")] = False,
    ready_timeout: Annotated[float, typer.Option(help="Seconds to wait for every service to be ready.")] = 60.0,
    monitoring: Annotated[
        bool, typer.Option(help="Also run Prometheus and Alertmanager (when installed), scraping every instance.")
    ] = False,
    prometheus_port: Annotated[int, typer.Option(help="Port of Prometheus with --monitoring.")] = 9090,
    alertmanager_port: Annotated[int, typer.Option(help="Port of Alertmanager with --monitoring.")] = 9093,
) -> None:
    """Start the registry, every service and the gateway as local processes; Ctrl-C stops them all."""
    from roboshop.cli.up import run_up

    raise typer.Exit(
        run_up(
            port=port,
            registry_port=registry_port,
            data_dir=data_dir,
            replica_args=replicas or [],
            host=host,
            raw_logs=raw_logs,
            ready_timeout_s=ready_timeout,
            monitoring=monitoring,
            prometheus_port=prometheus_port,
            alertmanager_port=alertmanager_port,
        )
    )


@app.command()
def status(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    registry: Annotated[str | None, typer.Option(help="Registry URL (default: from the running `up`).")] = None,
    data_dir: Annotated[Path, typer.Option(help="Data dir of the running `up`.")] = DEFAULT_DATA_DIR,
) -> None:
    """Show every service instance and its health, as the registry sees it."""
    state = read_state(data_dir) or {}
    registry_url = registry or state.get("registry_url") or f"http://127.0.0.1:{DEFAULT_REGISTRY_PORT}"
    console = Console()
    try:
        instances = fetch_instances(registry_url)
    except RegistryUnreachable as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]\nIs RoboShop running? Start it with `make up` or `roboshop up`.")
        raise typer.Exit(1) from exc
    if json_output:
        print(json.dumps(as_json(registry_url, instances), indent=2))
        return
    table = Table(title=f"RoboShop services (registry {registry_url})")
    for column in ("service", "instance", "url", "status", "last check", "detail"):
        table.add_column(column, no_wrap=column != "detail")
    for view in instances:
        colour = "green" if view.status == "passing" else "red"
        table.add_row(
            view.service,
            view.id,
            view.url,
            f"[{colour}]{view.status}[/{colour}]",
            (view.last_check or "")[11:19],
            view.output[:60],
        )
    console.print(table)
    passing = sum(v.status == "passing" for v in instances)
    console.print(f"{passing} of {len(instances)} instances passing")
