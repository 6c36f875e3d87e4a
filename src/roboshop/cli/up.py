"""``roboshop up``: run the local profile in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from roboshop.cli.local import LocalPlan, parse_replicas
from roboshop.cli.logview import LogView
from roboshop.cli.monitoring import INSTALL_HINT, MonitoringPlan
from roboshop.cli.registry_view import InstanceView, RegistryUnreachable, fetch_instances
from roboshop.cli.state import clear_state, write_state
from roboshop.cli.supervisor import ProcessSpec, Supervisor

STOP_TIMEOUT_S = 10.0


def run_up(
    *,
    port: int,
    registry_port: int,
    data_dir: Path,
    replica_args: list[str],
    host: str,
    raw_logs: bool,
    ready_timeout_s: float,
    monitoring: bool = False,
    prometheus_port: int = 9090,
    alertmanager_port: int = 9093,
) -> int:
    console = Console(highlight=False)
    errors = Console(stderr=True, highlight=False)
    try:
        replicas = parse_replicas(replica_args)
    except ValueError as exc:
        errors.print(f"[red]error:[/red] {exc}")
        return 2
    for name, value in (("--port", port), ("--registry-port", registry_port)):
        if not _port_free(host, value):
            errors.print(f"[red]error:[/red] {host}:{value} is already in use; choose another with {name}")
            return 2
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    plan = LocalPlan(host, port, registry_port, data_dir, replicas)
    extra: list[ProcessSpec] = []
    if monitoring:
        watch = MonitoringPlan(
            data_dir, plan.registry_url, f"{host}:{registry_port}", prometheus_port, alertmanager_port, host
        )
        missing = watch.missing()
        if missing:
            errors.print(
                f"[yellow]--monitoring: {', '.join(missing)} not found; starting without monitoring.[/yellow] "
                f"To get them: {INSTALL_HINT}."
            )
        else:
            for name, value in (("--prometheus-port", prometheus_port), ("--alertmanager-port", alertmanager_port)):
                if not _port_free(host, value):
                    errors.print(f"[red]error:[/red] {host}:{value} is already in use; choose another with {name}")
                    return 2
            extra = watch.processes(dict(os.environ))
            console.print(f"Monitoring: Prometheus {watch.prometheus_url}, Alertmanager {watch.alertmanager_url}")
    return asyncio.run(_run(plan, console, errors, raw_logs, ready_timeout_s, extra))


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


async def _run(
    plan: LocalPlan,
    console: Console,
    errors: Console,
    raw_logs: bool,
    ready_timeout_s: float,
    extra: list[ProcessSpec] | None = None,
) -> int:
    started = time.monotonic()
    view = LogView(raw=raw_logs)
    supervisor: Supervisor

    def save_state() -> None:
        write_state(
            plan.data_dir,
            {
                "pid": os.getpid(),
                "registry_url": plan.registry_url,
                "gateway_url": plan.gateway_url,
                "instances": {
                    item.spec.instance: {
                        "service": item.spec.service,
                        "pid": item.pid,
                        "state": item.state,
                        "restarts": item.restarts,
                        "last_exit": item.last_exit,
                    }
                    for item in supervisor.instances
                },
            },
        )

    supervisor = Supervisor([*plan.processes(), *(extra or [])], view, save_state)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    console.print(f"[bold]Starting RoboShop[/bold] ({len(supervisor.instances)} processes, data in {plan.data_dir})")
    # The registry first: every other process registers with it as soon as it serves.
    supervisor.start({"registry"})
    await _wait_registry(plan, stop, ready_timeout_s)
    supervisor.start()
    ready = await _wait_ready(plan, stop, ready_timeout_s, errors)
    code = 0
    if ready is None:
        if not stop.is_set():
            code = 1
    else:
        _print_summary(console, plan, ready, time.monotonic() - started)
        await stop.wait()
    console.print("[bold]Stopping RoboShop[/bold] ...")
    stopping = time.monotonic()
    killed = await supervisor.stop_all(STOP_TIMEOUT_S)
    clear_state(plan.data_dir)
    if killed:
        errors.print(f"[yellow]had to kill {', '.join(killed)} (did not stop within the grace period)[/yellow]")
    console.print(f"Stopped {len(supervisor.instances)} processes in {time.monotonic() - stopping:.1f}s.")
    return code


async def _wait_registry(plan: LocalPlan, stop: asyncio.Event, timeout_s: float) -> None:
    """Poll the registry until it answers (the readiness wait after this one reports a registry that never does)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not stop.is_set():
        try:
            await asyncio.to_thread(fetch_instances, plan.registry_url, 0.5)
            return
        except RegistryUnreachable:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.05)


async def _wait_ready(
    plan: LocalPlan, stop: asyncio.Event, timeout_s: float, errors: Console
) -> list[InstanceView] | None:
    """Poll the registry until every instance of the plan is passing; None on timeout or Ctrl-C."""
    expected = set(plan.instance_names()) - {"registry-1"}
    deadline = time.monotonic() + timeout_s
    missing = sorted(expected)
    while time.monotonic() < deadline and not stop.is_set():
        try:
            views = await asyncio.to_thread(fetch_instances, plan.registry_url, 1.0)
        except RegistryUnreachable:
            views = []
        passing = {v.id for v in views if v.status == "passing"}
        missing = sorted(expected - passing)
        if not missing and views:
            return views
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.2)
    if not stop.is_set():
        errors.print(
            f"[red]not ready after {timeout_s:.0f}s:[/red] {', '.join(missing)}; "
            "their log lines above say why (a port in use? a database URL?)"
        )
    return None


def _print_summary(console: Console, plan: LocalPlan, views: list[InstanceView], elapsed_s: float) -> None:
    table = Table(title="RoboShop is up")
    for column in ("service", "instance", "url", "status"):
        table.add_column(column, no_wrap=True)
    table.add_row("registry", "registry-1", plan.registry_url, "[green]running[/green]")
    for v in views:
        table.add_row(v.service, v.id, v.url, f"[green]{v.status}[/green]")
    console.print(table)
    console.print(
        f"All services ready in {elapsed_s:.1f}s. Shop: [bold]{plan.gateway_url}[/bold]  "
        f"(status: `roboshop status`, stop: Ctrl-C)"
    )
