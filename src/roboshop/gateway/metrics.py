"""The gateway's Prometheus metrics: the kit's RED metrics per route template, plus one series per upstream.

Every request updates four series; the labelled children are looked up once per label set and kept,
because ``labels()`` (a lock and a dict per call) costs more than the update itself on the hot path.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from roboshop.kit.metrics import LATENCY_BUCKETS, HttpMetrics

_Series = tuple[Counter, Histogram]


class GatewayMetrics:
    def __init__(self, service: str = "gateway") -> None:
        self.http = HttpMetrics(service)
        self.registry = self.http.registry
        self.upstream_requests = Counter(
            "gateway_upstream_requests_total",
            "Requests the gateway sent to a service, by status (or 'error' / 'timeout' without one)",
            ("upstream", "status"),
            registry=self.registry,
        )
        self.upstream_duration = Histogram(
            "gateway_upstream_duration_seconds",
            "Time from sending a request to a service until its response headers arrived",
            ("upstream",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.retries = Counter(
            "gateway_upstream_retries_total",
            "Requests sent again to another instance after a failed attempt",
            registry=self.registry,
        )
        self._requests: dict[tuple[str, str, int], _Series] = {}
        self._upstreams: dict[tuple[str, int | str], _Series] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        series = self._requests.get((route, method, status))
        if series is None:
            http = self.http
            series = (
                http.requests.labels(http.service, route, method, str(status)),
                http.duration.labels(http.service, route, method),
            )
            self._requests[(route, method, status)] = series
        series[0].inc()
        series[1].observe(seconds)

    def observe_upstream(self, upstream: str, status: int | str, seconds: float) -> None:
        series = self._upstreams.get((upstream, status))
        if series is None:
            series = (
                self.upstream_requests.labels(upstream, str(status)),
                self.upstream_duration.labels(upstream),
            )
            self._upstreams[(upstream, status)] = series
        series[0].inc()
        series[1].observe(seconds)
