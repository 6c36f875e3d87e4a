"""`make bench`: the foundation's figures, measured side by side in one run.

* gateway -> catalogue against direct catalogue access (same wrk load, interleaved rounds, medians);
* the time from `roboshop up` to every service ready;
* the total resident memory of all RoboShop processes;
* login latency through the gateway (argon2id at the OWASP minimum), one client and four.

Results go to bench/out/foundation.json. Ratios matter more than absolute numbers on a shared machine.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
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
PATHS = ("/products", "/product/Watson")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def start_shop(workdir: Path) -> tuple[subprocess.Popen[bytes], str, str, float, Path]:
    gateway_port, registry_port = free_port(), free_port()
    data_dir = workdir / "data"
    log_path = workdir / "up.log"
    cli = Path(sys.executable).with_name("roboshop")
    started = time.monotonic()
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                str(cli),
                "up",
                "--port",
                str(gateway_port),
                "--registry-port",
                str(registry_port),
                "--data-dir",
                str(data_dir),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            # One wrk client from one address is a flood by the gateway's default policy: lift it for the benchmark.
            env=dict(os.environ, COLUMNS="200", NO_COLOR="1", ROBOSHOP_GATEWAY_RATE_LIMIT_ANONYMOUS="1000000/second"),
        )
    deadline = started + 60
    while "RoboShop is up" not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"roboshop up did not become ready:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.05)
    ready_s = time.monotonic() - started
    return process, f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{registry_port}", ready_s, data_dir


def catalogue_url(registry: str) -> str:
    with urllib.request.urlopen(f"{registry}/v1/health/service/catalogue?passing=true") as response:
        rows = json.load(response)
    service = rows[0]["Service"]
    return f"http://{service['Address']}:{service['Port']}"


def memory(data_dir: Path, cli_pid: int) -> dict[str, Any]:
    state = json.loads((data_dir / "roboshop.json").read_text())
    per_instance = {name: rss_kib(item["pid"]) for name, item in state["instances"].items() if item["pid"]}
    total = sum(per_instance.values()) + rss_kib(cli_pid)
    return {
        "total_rss_mib": round(total / 1024, 1),
        "cli_rss_mib": round(rss_kib(cli_pid) / 1024, 1),
        "per_instance_rss_mib": {k: round(v / 1024, 1) for k, v in per_instance.items()},
    }


def compare(direct_base: str, gateway_base: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for path in PATHS:
        runs: dict[str, list[LoadResult]] = {"direct": [], "gateway": []}
        targets = {"direct": f"{direct_base}{path}", "gateway": f"{gateway_base}/api/catalogue{path}"}
        run_wrk(targets["gateway"], connections=CONNECTIONS, seconds=2)  # warm-up: pools, caches
        for round_no in range(ROUNDS):
            for name in ("direct", "gateway") if round_no % 2 == 0 else ("gateway", "direct"):
                result = run_wrk(targets[name], connections=CONNECTIONS, seconds=SECONDS)
                runs[name].append(result)
                print(
                    f"  {path:<16} {name:<8} round {round_no + 1}: {result.rps:8.0f} req/s  "
                    f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
                    flush=True,
                )
        summary = {name: _median(rs) for name, rs in runs.items()}
        summary["gateway_over_direct_rps"] = round(summary["gateway"]["rps"] / summary["direct"]["rps"], 3)
        summary["gateway_added_p50_ms"] = round(summary["gateway"]["p50_ms"] - summary["direct"]["p50_ms"], 3)
        results[path] = summary
    return results


def login_latency(gateway: str) -> dict[str, Any]:
    """Login through the gateway (argon2id verification dominates): one client, then four at once."""
    script = str(Path(__file__).with_name("login.lua"))
    results: dict[str, Any] = {}
    for connections in (1, 4):
        result = run_wrk(f"{gateway}/api/user/login", connections=connections, seconds=SECONDS, script=script)
        results[f"c{connections}"] = result.as_dict()
        print(
            f"  login c={connections}: {result.rps:6.1f} req/s  p50 {result.p50_ms:6.2f} ms  "
            f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
            flush=True,
        )
    return results


def _median(runs: list[LoadResult]) -> dict[str, float]:
    return {
        "rps": round(statistics.median(r.rps for r in runs), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in runs), 3),
        "p99_ms": round(statistics.median(r.p99_ms for r in runs), 3),
        "errors": sum(r.errors for r in runs),
    }


def main() -> None:
    require_wrk()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="roboshop-bench-") as tmp:
        print("starting the shop with `roboshop up` ...", flush=True)
        process, gateway, registry, ready_s, data_dir = start_shop(Path(tmp))
        try:
            print(f"ready in {ready_s:.2f}s", flush=True)
            idle_memory = memory(data_dir, process.pid)
            print(f"resident memory, idle: {idle_memory['total_rss_mib']} MiB", flush=True)
            direct = catalogue_url(registry)
            print(f"load: wrk -t2 -c{CONNECTIONS} -d{SECONDS}s, {ROUNDS} interleaved rounds, medians", flush=True)
            load = compare(direct, gateway)
            print("login through the gateway:", flush=True)
            login = login_latency(gateway)
            loaded_memory = memory(data_dir, process.pid)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load": {"connections": CONNECTIONS, "seconds": SECONDS, "rounds": ROUNDS, "results": load},
        "login": login,
        "startup_to_ready_s": round(ready_s, 2),
        "memory_idle": idle_memory,
        "memory_after_load": loaded_memory,
    }
    out = OUT / "foundation.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: report[k] for k in ("startup_to_ready_s",)} | {"load": load}, indent=2))
    print(f"total RSS idle {idle_memory['total_rss_mib']} MiB, after load {loaded_memory['total_rss_mib']} MiB")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
