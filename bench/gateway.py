"""`make bench` (gateway): the RoboShop gateway against nginx, as a reverse proxy, on the same upstreams.

Two upstreams, each registered in the shop's registry:

* ``fast``: nginx serving a static JSON document (the gateway's own cost dominates);
* ``catalogue``: the real catalogue service of ``roboshop up``.

Each is loaded with the same wrk load three ways, in interleaved rounds (medians): ``direct``; through the
RoboShop ``gateway`` (its own process, discovery through the registry, ``auth: api_key`` and rate limiting
on, access log off); through ``nginx`` as a reverse proxy (keep-alive upstream pool, one worker process
like the gateway's one event loop). Results go to bench/out/gateway.json:

    {"fast": {"direct": {"rps", "p50_ms", "p99_ms"}, "gateway": {...}, "nginx": {...}}, "catalogue": {...}}

Targets: the gateway >= 20 % of nginx's throughput on ``fast``; its p50 overhead over direct <= 1 ms at
8 connections. Environment: BENCH_CONNECTIONS (8), BENCH_SECONDS (5), BENCH_ROUNDS (3).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.foundation import catalogue_url, free_port, start_shop
from bench.wrk import LoadResult, parse_wrk, require_wrk

OUT = Path(__file__).parent / "out"
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
API_KEY = "bench-" + hashlib.sha256(b"roboshop gateway bench").hexdigest()
PRODUCTS = json.dumps(
    [{"sku": f"Robot-{n}", "name": f"Robot {n}", "price": 1000 + n, "instock": n % 5} for n in range(8)]
)
WAYS = ("direct", "gateway", "nginx")

ROUTES = f"""
consumers:
  bench:
    key_sha256: "{hashlib.sha256(API_KEY.encode()).hexdigest()}"
    rate_limit: 1000000/second
services:
  fast:
    routes:
      - {{methods: [GET], path: /products, auth: api_key}}
  catalogue:
    routes:
      - {{methods: [GET], path: /products, auth: api_key}}
"""

NGINX_UPSTREAM = """
worker_processes 1;
pid {dir}/fast.pid;
error_log {dir}/fast-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  {temp}
  server {{
    listen 127.0.0.1:{port};
    default_type application/json;
    location = /health {{ return 200 '{{"status":"ok"}}'; }}
    location / {{ root {dir}/static; try_files /products.json =404; }}
  }}
}}
"""

NGINX_PROXY = """
worker_processes 1;
pid {dir}/proxy.pid;
error_log {dir}/proxy-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  {temp}
  upstream fast {{ server 127.0.0.1:{fast_port}; keepalive 64; }}
  upstream catalogue {{ server {catalogue}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location /api/fast/ {{
      proxy_pass http://fast/; proxy_http_version 1.1; proxy_set_header Connection "";
    }}
    location /api/catalogue/ {{
      proxy_pass http://catalogue/; proxy_http_version 1.1; proxy_set_header Connection "";
    }}
  }}
}}
"""


def temp_paths(directory: Path) -> str:
    return " ".join(
        f"{kind}_temp_path {directory}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )


def start_nginx(directory: Path, name: str, config: str) -> subprocess.Popen[bytes]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    path = directory / f"{name}.conf"
    path.write_text(config)
    # An unprivileged master in the foreground (no daemon, no system configuration), ended by PID.
    return subprocess.Popen(
        [nginx, "-p", str(directory), "-c", str(path), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_http(url: str, what: str, deadline_s: float = 30.0, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not answer 200 at {url}")
        time.sleep(0.1)


def register_fast(registry: str, port: int) -> None:
    body = {
        "ID": "fast-nginx",
        "Name": "fast",
        "Address": "127.0.0.1",
        "Port": port,
        "Tags": ["bench"],
        "Meta": {"version": "nginx"},
        "Check": {
            "HTTP": f"http://127.0.0.1:{port}/health",
            "Interval": "1s",
            "Timeout": "1s",
            "DeregisterCriticalServiceAfter": "30s",
        },
    }
    request = urllib.request.Request(
        f"{registry}/v1/agent/service/register", data=json.dumps(body).encode(), method="PUT"
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=5):
        pass

    def passing() -> bool:
        with urllib.request.urlopen(f"{registry}/v1/health/service/fast?passing=true", timeout=2) as answer:
            return bool(json.load(answer))

    deadline = time.monotonic() + 30
    while not passing():
        if time.monotonic() > deadline:
            raise SystemExit("nginx (fast) did not pass its registry check")
        time.sleep(0.1)


def start_gateway(directory: Path, registry: str, port: int) -> subprocess.Popen[bytes]:
    routes = directory / "routes.yaml"
    routes.write_text(ROUTES)
    env = dict(
        os.environ,
        ROBOSHOP_GATEWAY_PORT=str(port),
        ROBOSHOP_GATEWAY_SERVICE_NAME="bench-gateway",
        ROBOSHOP_GATEWAY_ROUTES_FILE=str(routes),
        ROBOSHOP_GATEWAY_DISCOVERY="registry",
        ROBOSHOP_GATEWAY_REGISTRY_URL=registry,
        ROBOSHOP_GATEWAY_ACCESS_LOG="false",
        ROBOSHOP_GATEWAY_LOG_LEVEL="WARNING",
    )
    log = (directory / "gateway.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "roboshop.gateway"], stdout=log, stderr=subprocess.STDOUT, env=env)


def wrk(url: str, *, seconds: int, headers: dict[str, str]) -> LoadResult:
    extra = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    threads = min(2, CONNECTIONS)
    command = [require_wrk(), f"-t{threads}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    output = subprocess.run(
        [*command, *extra, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    return parse_wrk(output)


def compare(name: str, targets: dict[str, str]) -> dict[str, Any]:
    headers = {"X-API-Key": API_KEY}
    for url in targets.values():  # warm-up: pools, caches, discovery
        wrk(url, seconds=1, headers=headers)
    runs: dict[str, list[LoadResult]] = {way: [] for way in WAYS}
    for round_no in range(ROUNDS):
        order = WAYS[round_no % 3 :] + WAYS[: round_no % 3]
        for way in order:
            result = wrk(targets[way], seconds=SECONDS, headers=headers)
            runs[way].append(result)
            print(
                f"  {name:<10} {way:<8} round {round_no + 1}: {result.rps:8.0f} req/s  p50 {result.p50_ms:6.2f} ms"
                f"  p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
                flush=True,
            )
    summary: dict[str, Any] = {way: median(results) for way, results in runs.items()}
    summary["gateway_over_nginx_rps"] = round(summary["gateway"]["rps"] / summary["nginx"]["rps"], 3)
    summary["gateway_added_p50_ms"] = round(summary["gateway"]["p50_ms"] - summary["direct"]["p50_ms"], 3)
    summary["nginx_added_p50_ms"] = round(summary["nginx"]["p50_ms"] - summary["direct"]["p50_ms"], 3)
    return summary


def median(runs: list[LoadResult]) -> dict[str, float]:
    return {
        "rps": round(statistics.median(r.rps for r in runs), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in runs), 3),
        "p99_ms": round(statistics.median(r.p99_ms for r in runs), 3),
        "errors": sum(r.errors for r in runs),
    }


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    require_wrk()
    OUT.mkdir(parents=True, exist_ok=True)
    started: list[tuple[subprocess.Popen[bytes], int]] = []
    with tempfile.TemporaryDirectory(prefix="roboshop-bench-gateway-") as tmp:
        directory = Path(tmp)
        # Started as root, nginx runs its workers as nobody: they must read the document and use the temp dirs.
        directory.chmod(0o755)
        (directory / "static").mkdir(mode=0o755)
        (directory / "static" / "products.json").write_text(PRODUCTS)
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (directory / kind).mkdir()
            (directory / kind).chmod(0o777)
        print("starting the shop with `roboshop up` ...", flush=True)
        shop, _, registry, _, _ = start_shop(directory)
        started.append((shop, signal.SIGINT))
        try:
            fast_port, proxy_port, gateway_port = free_port(), free_port(), free_port()
            temp = temp_paths(directory)
            started.append(
                (start_nginx(directory, "fast", NGINX_UPSTREAM.format(dir=directory, temp=temp, port=fast_port)), 15)
            )
            fast = f"http://127.0.0.1:{fast_port}"
            wait_http(f"{fast}/health", "nginx (fast)")
            register_fast(registry, fast_port)
            catalogue = catalogue_url(registry)
            proxy_config = NGINX_PROXY.format(
                dir=directory,
                temp=temp,
                port=proxy_port,
                fast_port=fast_port,
                catalogue=catalogue.removeprefix("http://"),
            )
            started.append((start_nginx(directory, "proxy", proxy_config), 15))
            nginx = f"http://127.0.0.1:{proxy_port}"
            started.append((start_gateway(directory, registry, gateway_port), 15))
            gateway = f"http://127.0.0.1:{gateway_port}"
            key = {"X-API-Key": API_KEY}
            wait_http(f"{gateway}/api/fast/products", "the gateway (fast)", headers=key)
            wait_http(f"{gateway}/api/catalogue/products", "the gateway (catalogue)", headers=key)
            wait_http(f"{nginx}/api/catalogue/products", "nginx (proxy)")
            print(f"load: wrk -t2 -c{CONNECTIONS} -d{SECONDS}s, {ROUNDS} interleaved rounds, medians", flush=True)
            results = {
                name: compare(
                    name,
                    {
                        "direct": f"{base}/products",
                        "gateway": f"{gateway}/api/{name}/products",
                        "nginx": f"{nginx}/api/{name}/products",
                    },
                )
                for name, base in (("fast", fast), ("catalogue", catalogue))
            }
        except BaseException:
            for log in sorted(directory.glob("*.log")):
                print(f"--- {log.name} (end)\n{log.read_text(errors='replace')[-2000:]}", file=sys.stderr)
            raise
        finally:
            for process, sig in reversed(started):
                stop(process, sig)
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count()},
        "load": {"connections": CONNECTIONS, "seconds": SECONDS, "rounds": ROUNDS},
        **results,
    }
    out = OUT / "gateway.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(results, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
