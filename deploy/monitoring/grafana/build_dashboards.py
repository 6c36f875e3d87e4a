"""RoboShop's Grafana dashboards as code: run this to regenerate the JSON files next to it.

    .venv/bin/python deploy/monitoring/grafana/build_dashboards.py          # write dashboards/*.json
    .venv/bin/python deploy/monitoring/grafana/build_dashboards.py --check  # exit 1 if a committed file is stale

Every panel queries the Prometheus datasource provisioned with the fixed uid ``prometheus``
(provisioning/datasources/roboshop.yml). The metric names are the contract in ../README.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, statetimeline, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
    VariableRefresh,
    VariableSort,
)

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="prometheus")
RATE = "$__rate_interval"
CHECKOUT = 'service="gateway",route="/api/payment/pay/{id}"'
ERROR_BUDGET = 0.005  # 99.5 % checkout availability over 30 days

Panel = timeseries.Panel | stat.Panel | statetimeline.Panel


class _Ids:
    """Panel ids, unique within a dashboard, in the order the panels are added."""

    def __init__(self) -> None:
        self._next = 0

    def __call__(self) -> int:
        self._next += 1
        return self._next


def query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref).datasource(PROMETHEUS)


def _legend() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def _tooltip() -> common_builders.VizTooltipOptions:
    return common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)


def graph(
    ids: _Ids, title: str, unit: str, *targets: tuple[str, str], description: str = "", width: int = 12
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(ids())
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit(unit)
        .height(8)
        .span(width)
        .fill_opacity(10)
        .legend(_legend())
        .tooltip(_tooltip())
    )
    for index, (expr, legend) in enumerate(targets):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + index)))
    return panel


def single(
    ids: _Ids,
    title: str,
    unit: str,
    expr: str,
    *,
    description: str = "",
    steps: list[tuple[float | None, str]] | None = None,
    width: int = 6,
) -> stat.Panel:
    thresholds = steps or [(None, "green")]
    return (
        stat.Panel()
        .id(ids())
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .unit(unit)
        .height(4)
        .span(width)
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.AREA)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(
            dashboard.ThresholdsConfig()
            .mode(ThresholdsMode.ABSOLUTE)
            .steps([Threshold(value=value, color=color) for value, color in thresholds])
        )
        .with_target(query(expr))
    )


def breaker_states(ids: _Ids, title: str, expr: str, legend: str, *, description: str = "") -> statetimeline.Panel:
    states = {"0": ("closed", "green"), "1": ("half-open", "yellow"), "2": ("open", "red")}
    return (
        statetimeline.Panel()
        .id(ids())
        .title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .height(8)
        .span(12)
        .show_value(common.VisibilityMode.AUTO)
        .merge_values(True)
        .legend(_legend())
        .tooltip(_tooltip())
        .mappings(
            [
                ValueMap(
                    {
                        value: ValueMappingResult(text=text, color=color, index=index)
                        for index, (value, (text, color)) in enumerate(states.items())
                    }
                )
            ]
        )
        .with_target(query(expr, legend))
    )


def base(uid: str, title: str, description: str) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["roboshop"])
        .editable()
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
        .annotation(
            dashboard.AnnotationQuery()
            .name("RoboShop alerts firing")
            .datasource(PROMETHEUS)
            .enable(True)
            .icon_color("red")
            .expr('ALERTS{alertname=~"Roboshop.*",alertstate="firing"}')
        )
    )


def label_variable(name: str, label: str, metric: str, *, multi: bool = True) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(PROMETHEUS)
        .query(f"label_values({metric}, {name})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(True)
        .all_value(".*")
    )


def overview() -> dashboard.Dashboard:
    ids = _Ids()
    sel = 'service=~"$service"'
    up = f'up{{job="roboshop",{sel}}}'
    return (
        base(
            "roboshop-overview",
            "RoboShop overview",
            "RED metrics (rate, errors, duration) per service, and the health of every instance.",
        )
        .with_variable(label_variable("service", "Service", 'up{job="roboshop"}'))
        .with_row(dashboard.Row("Health").id(ids()))
        .with_panel(single(ids, "Instances up", "none", f"sum({up})"))
        .with_panel(
            single(
                ids,
                "Instances down",
                "none",
                f"count({up} == 0) or vector(0)",
                steps=[(None, "green"), (1, "red")],
            )
        )
        .with_panel(
            single(
                ids,
                "RoboShop alerts firing",
                "none",
                'count(ALERTS{alertname=~"Roboshop.*",alertstate="firing"}) or vector(0)',
                steps=[(None, "green"), (1, "red")],
            )
        )
        .with_panel(single(ids, "Requests per second", "reqps", f"sum(rate(http_requests_total{{{sel}}}[{RATE}]))"))
        .with_row(dashboard.Row("Rate, errors, duration").id(ids()))
        .with_panel(
            graph(
                ids,
                "Request rate",
                "reqps",
                (f"sum by (service) (rate(http_requests_total{{{sel}}}[{RATE}]))", "{{service}}"),
                description="Requests handled per second; /metrics, /health and /ready are not counted.",
            )
        )
        .with_panel(
            graph(
                ids,
                "Server error ratio (5xx)",
                "percentunit",
                (
                    f'sum by (service) (rate(http_requests_total{{{sel},status=~"5.."}}[{RATE}]))'
                    f" / sum by (service) (rate(http_requests_total{{{sel}}}[{RATE}]))",
                    "{{service}}",
                ),
                description="RoboshopHighErrorRate fires above 5 % for 5 minutes.",
            )
        )
        .with_panel(
            graph(
                ids,
                "Latency p99",
                "s",
                (
                    "histogram_quantile(0.99, sum by (service, le) "
                    f"(rate(http_request_duration_seconds_bucket{{{sel}}}[{RATE}])))",
                    "{{service}}",
                ),
                description="RoboshopHighLatency fires above 1 s for 10 minutes.",
            )
        )
        .with_panel(
            graph(
                ids,
                "Latency p50",
                "s",
                (
                    "histogram_quantile(0.5, sum by (service, le) "
                    f"(rate(http_request_duration_seconds_bucket{{{sel}}}[{RATE}])))",
                    "{{service}}",
                ),
            )
        )
        .with_panel(
            graph(
                ids,
                "Client errors (4xx) by status",
                "reqps",
                (
                    f'sum by (service, status) (rate(http_requests_total{{{sel},status=~"4.."}}[{RATE}]))',
                    "{{service}} {{status}}",
                ),
            )
        )
        .with_panel(
            graph(
                ids,
                "Requests in flight",
                "none",
                (f"sum by (service) (http_requests_in_flight{{{sel}}})", "{{service}}"),
            )
        )
        .with_row(dashboard.Row("Instances").id(ids()))
        .with_panel(graph(ids, "Up", "none", (up, "{{instance_id}}"), description="1 when the last scrape worked."))
        .with_panel(
            graph(
                ids,
                "Restarts in the last hour",
                "none",
                (
                    f'changes(process_start_time_seconds{{job="roboshop",{sel}}}[1h])',
                    "{{instance_id}}",
                ),
            )
        )
        .with_panel(
            graph(
                ids,
                "CPU",
                "percentunit",
                (
                    f'rate(process_cpu_seconds_total{{job="roboshop",{sel}}}[{RATE}])',
                    "{{instance_id}}",
                ),
                description="CPU seconds per second: 100 % is one core.",
            )
        )
        .with_panel(
            graph(
                ids,
                "Resident memory",
                "bytes",
                (f'process_resident_memory_bytes{{job="roboshop",{sel}}}', "{{instance_id}}"),
            )
        )
    )


def checkout() -> dashboard.Dashboard:
    ids = _Ids()
    budget = f"{ERROR_BUDGET}"
    return (
        base(
            "roboshop-checkout",
            "RoboShop checkout and business",
            "The checkout availability SLO (99.5 % of POST /api/payment/pay/{id} without a 5xx over 30 days), "
            "its error budget and burn rates, and the shop's business metrics.",
        )
        .with_row(dashboard.Row("Checkout availability SLO: 99.5 % over 30 days").id(ids()))
        .with_panel(
            single(
                ids,
                "Availability, 30 days",
                "percentunit",
                "1 - slo:checkout_errors:ratio_rate30d",
                steps=[(None, "red"), (1 - ERROR_BUDGET, "green")],
            )
        )
        .with_panel(
            single(
                ids,
                "Error budget left, 30 days",
                "percentunit",
                f"1 - slo:checkout_errors:ratio_rate30d / {budget}",
                steps=[(None, "red"), (0.25, "orange"), (0.5, "green")],
            )
        )
        .with_panel(
            single(
                ids,
                "Burn rate, 1 hour",
                "x",
                f"slo:checkout_errors:ratio_rate1h / {budget}",
                description="RoboshopCheckoutErrorBudgetBurnFast pages at 14.4 (with the 5 minute window too).",
                steps=[(None, "green"), (6, "orange"), (14.4, "red")],
            )
        )
        .with_panel(
            single(
                ids,
                "Burn rate, 6 hours",
                "x",
                f"slo:checkout_errors:ratio_rate6h / {budget}",
                description="RoboshopCheckoutErrorBudgetBurnSlow fires at 6 (with the 30 minute window too).",
                steps=[(None, "green"), (1, "orange"), (6, "red")],
            )
        )
        .with_panel(
            graph(
                ids,
                "Burn rate by window",
                "x",
                (f"slo:checkout_errors:ratio_rate5m / {budget}", "5m"),
                (f"slo:checkout_errors:ratio_rate30m / {budget}", "30m"),
                (f"slo:checkout_errors:ratio_rate1h / {budget}", "1h"),
                (f"slo:checkout_errors:ratio_rate6h / {budget}", "6h"),
                description="1 spends exactly the 30-day budget in 30 days.",
            )
        )
        .with_panel(
            graph(
                ids,
                "Checkouts by status",
                "reqps",
                (f"sum by (status) (rate(http_requests_total{{{CHECKOUT}}}[{RATE}]))", "{{status}}"),
            )
        )
        .with_panel(
            graph(
                ids,
                "Checkout latency",
                "s",
                (
                    f"histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket{{{CHECKOUT}}}"
                    f"[{RATE}])))",
                    "p50",
                ),
                (
                    f"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{CHECKOUT}}}"
                    f"[{RATE}])))",
                    "p99",
                ),
            )
        )
        .with_panel(
            graph(
                ids,
                "Payment calls from the gateway",
                "reqps",
                (
                    f'sum by (status) (rate(gateway_upstream_requests_total{{upstream="payment"}}[{RATE}]))',
                    "{{status}}",
                ),
            )
        )
        .with_row(dashboard.Row("Business").id(ids()))
        .with_panel(
            graph(
                ids,
                "Items added to carts and sold, per minute",
                "none",
                (f"sum(rate(items_added_total[{RATE}])) * 60", "added to carts"),
                (f"sum(rate(sold_count_total[{RATE}])) * 60", "sold"),
            )
        )
        .with_panel(
            graph(
                ids,
                "Orders by status, per minute",
                "none",
                (f"sum by (status) (rate(roboshop_orders_total[{RATE}])) * 60", "{{status}}"),
            )
        )
        .with_panel(
            graph(
                ids,
                "Average cart value at checkout",
                "none",
                (f"sum(rate(cart_value_sum[{RATE}])) / sum(rate(cart_value_count[{RATE}]))", "cart value"),
            )
        )
        .with_panel(
            graph(
                ids,
                "Average units per sale",
                "none",
                (f"sum(rate(units_sold_sum[{RATE}])) / sum(rate(units_sold_count[{RATE}]))", "units"),
            )
        )
        .with_panel(single(ids, "Revenue in range", "none", "sum(increase(cart_value_sum[$__range]))", width=12))
        .with_panel(
            single(
                ids,
                "Orders paid in range",
                "none",
                'sum(increase(roboshop_orders_total{status="paid"}[$__range]))',
                width=12,
            )
        )
    )


def gateway() -> dashboard.Dashboard:
    ids = _Ids()
    route = 'service="gateway",route=~"$route"'
    upstream = 'upstream=~"$upstream"'
    return (
        base(
            "roboshop-gateway",
            "RoboShop gateway",
            "The public entry: traffic per public route, the services behind it, and the circuit breakers.",
        )
        .with_variable(label_variable("route", "Route", 'http_requests_total{service="gateway"}'))
        .with_variable(label_variable("upstream", "Upstream", "gateway_upstream_requests_total"))
        .with_row(dashboard.Row("Public routes").id(ids()))
        .with_panel(
            graph(
                ids,
                "Requests by route",
                "reqps",
                (f"sum by (route) (rate(http_requests_total{{{route}}}[{RATE}]))", "{{route}}"),
            )
        )
        .with_panel(
            graph(
                ids,
                "Server error ratio (5xx) by route",
                "percentunit",
                (
                    f'sum by (route) (rate(http_requests_total{{{route},status=~"5.."}}[{RATE}]))'
                    f" / sum by (route) (rate(http_requests_total{{{route}}}[{RATE}]))",
                    "{{route}}",
                ),
            )
        )
        .with_panel(
            graph(
                ids,
                "Refused requests (401, 403, 404, 429) by route",
                "reqps",
                (
                    f'sum by (route, status) (rate(http_requests_total{{{route},status=~"401|403|404|429"}}[{RATE}]))',
                    "{{route}} {{status}}",
                ),
                description="Unauthenticated, forbidden, unknown and rate-limited requests.",
            )
        )
        .with_panel(
            graph(
                ids,
                "Latency p99 by route",
                "s",
                (
                    "histogram_quantile(0.99, sum by (route, le) "
                    f"(rate(http_request_duration_seconds_bucket{{{route}}}[{RATE}])))",
                    "{{route}}",
                ),
            )
        )
        .with_row(dashboard.Row("Upstream services").id(ids()))
        .with_panel(
            graph(
                ids,
                "Upstream requests by status",
                "reqps",
                (
                    f"sum by (upstream, status) (rate(gateway_upstream_requests_total{{{upstream}}}[{RATE}]))",
                    "{{upstream}} {{status}}",
                ),
            )
        )
        .with_panel(
            graph(
                ids,
                "Upstream failures without a response",
                "reqps",
                (
                    "sum by (upstream, status) "
                    f'(rate(gateway_upstream_requests_total{{{upstream},status=~"error|timeout"}}[{RATE}]))',
                    "{{upstream}} {{status}}",
                ),
                description="Connection errors and timeouts: the gateway got no answer at all.",
            )
        )
        .with_panel(
            graph(
                ids,
                "Upstream latency p99",
                "s",
                (
                    "histogram_quantile(0.99, sum by (upstream, le) "
                    f"(rate(gateway_upstream_duration_seconds_bucket{{{upstream}}}[{RATE}])))",
                    "{{upstream}}",
                ),
                description="From sending the request to the upstream's response headers.",
            )
        )
        .with_panel(
            graph(
                ids,
                "Gateway requests in flight",
                "none",
                ('sum(http_requests_in_flight{service="gateway"})', "in flight"),
            )
        )
        .with_row(dashboard.Row("Circuit breakers").id(ids()))
        .with_panel(
            breaker_states(
                ids,
                "Gateway breakers by upstream",
                'max by (peer) (roboshop_circuit_breaker_state{service="gateway"})',
                "{{peer}}",
            )
        )
        .with_panel(
            breaker_states(
                ids,
                "Every service's breakers",
                "max by (service, peer) (roboshop_circuit_breaker_state)",
                "{{service}} to {{peer}}",
                description="RoboshopCircuitOpen fires when one stays open for a minute.",
            )
        )
    )


def broker() -> dashboard.Dashboard:
    ids = _Ids()
    lag = f"sum by (le) (rate(roboshop_dispatch_lag_seconds_bucket[{RATE}]))"
    return (
        base(
            "roboshop-broker",
            "RoboShop broker and dispatch",
            "Messages waiting in the broker's queues, and how long paid orders wait to be dispatched.",
        )
        .with_row(dashboard.Row("Queues").id(ids()))
        .with_panel(
            single(
                ids,
                "Messages waiting",
                "none",
                "sum(max by (queue) (roboshop_broker_queue_depth))",
                steps=[(None, "green"), (100, "orange")],
            )
        )
        .with_panel(
            single(
                ids,
                "Dispatch lag p95",
                "s",
                f"histogram_quantile(0.95, {lag})",
                steps=[(None, "green"), (60, "red")],
            )
        )
        .with_panel(
            single(
                ids,
                "Orders dispatched per minute",
                "none",
                f"sum(rate(roboshop_dispatch_lag_seconds_count[{RATE}])) * 60",
                width=12,
            )
        )
        .with_panel(
            graph(
                ids,
                "Queue depth",
                "none",
                ("max by (queue) (roboshop_broker_queue_depth)", "{{queue}}"),
                description="RoboshopQueueBacklog fires above 100 messages for 10 minutes.",
            )
        )
        .with_panel(
            graph(
                ids,
                "Dispatch lag",
                "s",
                (f"histogram_quantile(0.5, {lag})", "p50"),
                (f"histogram_quantile(0.95, {lag})", "p95"),
                (f"histogram_quantile(0.99, {lag})", "p99"),
                description="From an order being paid to dispatch handling it. RoboshopDispatchLag: p95 above 60 s.",
            )
        )
        .with_panel(
            graph(
                ids,
                "Orders paid and dispatched, per minute",
                "none",
                (
                    f'sum by (status) (rate(roboshop_orders_total{{status=~"paid|dispatched"}}[{RATE}])) * 60',
                    "{{status}}",
                ),
                description="Dispatched falling behind paid means the queue is growing.",
                width=24,
            )
        )
    )


DASHBOARDS: dict[str, Callable[[], dashboard.Dashboard]] = {
    "roboshop-overview.json": overview,
    "roboshop-checkout.json": checkout,
    "roboshop-gateway.json": gateway,
    "roboshop-broker.json": broker,
}


def render() -> dict[str, str]:
    """Every dashboard's JSON text by file name, exactly as committed."""
    encoder = JSONEncoder(sort_keys=True, indent=2)
    return {name: encoder.encode(build().build()) + "\n" for name, build in DASHBOARDS.items()}


def stale(directory: Path = DASHBOARDS_DIR) -> list[str]:
    """The dashboards whose file is missing or differs from what the code generates."""
    out: list[str] = []
    for name, text in render().items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            out.append(name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        for name in outdated:
            print(f"{name} is out of date: run {Path(__file__).name}", file=sys.stderr)
        return 1 if outdated else 0
    DASHBOARDS_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (DASHBOARDS_DIR / name).write_text(text)
        print(f"wrote {DASHBOARDS_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
