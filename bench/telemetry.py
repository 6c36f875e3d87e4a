"""What tracing costs a kit service: requests/s of a trivial route with tracing on against the SDK turned off.

Processes of the same small kit service run side by side: tracing on (sampler always_on, no exporter: spans, ids in
every log line, nothing sent), tracing on but every request sampled out (always_off), and ``OTEL_SDK_DISABLED=true``.
wrk loads them in interleaved rounds; the medians go to bench/out/telemetry.json.
Run with ``.venv/bin/python -m bench.telemetry``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.wrk import LoadResult, require_wrk, run_wrk

OUT = Path(__file__).parent / "out"
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ROUTE = "/shelf/Watson"
READY_DEADLINE_S = 30.0

MODES: dict[str, dict[str, str]] = {
    "tracing_on": {"OTEL_TRACES_SAMPLER": "always_on", "OTEL_SDK_DISABLED": "false"},
    # What a sampled-out request still costs (ids made, context kept, nothing recorded): the price of ratio sampling.
    "tracing_unsampled": {"OTEL_TRACES_SAMPLER": "always_off", "OTEL_SDK_DISABLED": "false"},
    "sdk_disabled": {"OTEL_SDK_DISABLED": "true"},
}


def serve(port: int) -> None:
    """The measured service: one trivial route with a path parameter, on the kit's app factory and runner."""
    from fastapi import APIRouter

    from roboshop.kit.app import create_service_app
    from roboshop.kit.runner import run
    from roboshop.kit.settings import ServiceSettings

    router = APIRouter()

    @router.get("/shelf/{sku}")
    async def shelf(sku: str) -> dict[str, str]:
        return {"sku": sku}

    settings = ServiceSettings(service_name="bench", port=port, grace_period_s=0, deregister_delay_s=0)
    run(settings, lambda s: create_service_app(s, routers=[router]), check_path="/health")


def start(mode: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    from bench.foundation import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(MODES[mode])
    with (workdir / f"{mode}.log").open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.telemetry", "--serve", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=Path(__file__).parent.parent,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{mode} service exited: {(workdir / f'{mode}.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=1) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{mode} service did not become healthy in {READY_DEADLINE_S}s")


def main() -> None:
    require_wrk()
    results: dict[str, list[LoadResult]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="roboshop-bench-telemetry-") as tmp:
        workdir = Path(tmp)
        running = {mode: start(mode, workdir) for mode in MODES}
        try:
            for _, url in running.values():
                run_wrk(url + ROUTE, connections=CONNECTIONS, seconds=2)  # warm up both
            for _ in range(ROUNDS):
                for mode, (_, url) in running.items():
                    results[mode].append(run_wrk(url + ROUTE, connections=CONNECTIONS, seconds=SECONDS))
            traced_log = (workdir / "tracing_on.log").read_text().splitlines()
        finally:
            for process, _ in running.values():
                process.terminate()
                process.wait(timeout=20)
    summary: dict[str, Any] = {}
    for mode, rounds in results.items():
        summary[mode] = {
            "rps_median": round(statistics.median(r.rps for r in rounds), 1),
            "p50_ms_median": round(statistics.median(r.p50_ms for r in rounds), 3),
            "p99_ms_median": round(statistics.median(r.p99_ms for r in rounds), 3),
            "errors": sum(r.errors for r in rounds),
            "rounds": [r.as_dict() for r in rounds],
        }
    on, unsampled = summary["tracing_on"]["rps_median"], summary["tracing_unsampled"]["rps_median"]
    off = summary["sdk_disabled"]["rps_median"]
    report = {
        "what": f"GET {ROUTE} on a kit service, tracing on (always_on, no exporter) vs OTEL_SDK_DISABLED=true",
        "measured_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "load": {"connections": CONNECTIONS, "seconds": SECONDS, "rounds": ROUNDS},
        "results": summary,
        "tracing_rps_ratio": round(on / off, 3) if off else None,
        "unsampled_rps_ratio": round(unsampled / off, 3) if off else None,
        "traced_log_lines_with_trace_id": sum('"trace_id"' in line for line in traced_log),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "telemetry.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("load", "tracing_rps_ratio", "unsampled_rps_ratio")}, indent=2))
    for mode in MODES:
        print(mode, {k: v for k, v in summary[mode].items() if k != "rounds"})


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
    else:
        main()
