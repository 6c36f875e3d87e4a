"""The registry's rules: status transitions, deregister-after, what a registration may contain."""

from __future__ import annotations

from dataclasses import replace

import pytest

from roboshop.registry import domain
from roboshop.registry.domain import (
    AWAITING_FIRST_CHECK,
    CheckResult,
    Health,
    HealthCheck,
    ServiceInstance,
    Status,
)

T0 = 1_700_000_000.0


def an_instance(
    *, address: str = "127.0.0.1", port: int = 8101, deregister_after_s: float | None = 30.0, now: float = T0
) -> ServiceInstance:
    return ServiceInstance(
        id="catalogue-1",
        service="catalogue",
        address=address,
        port=port,
        tags=("v1",),
        meta={"version": "1.0"},
        check=HealthCheck(f"http://{address}:{port}/health", 2.0, 1.0, deregister_after_s),
        health=Health.awaiting_first_check(now),
    )


def test_a_new_instance_is_critical_and_awaiting_its_first_check() -> None:
    instance = domain.register(an_instance(), None)

    assert instance.health == Health(Status.CRITICAL, AWAITING_FIRST_CHECK, None, T0)
    assert not instance.passing
    assert domain.needs_check_now(instance)


def test_a_passing_check_makes_an_instance_passing_and_ends_its_critical_streak() -> None:
    instance = domain.record_check(an_instance(), CheckResult.passing("HTTP 200"), T0 + 1)

    assert instance.health == Health(Status.PASSING, "HTTP 200", T0 + 1, None)
    assert instance.passing
    assert not domain.needs_check_now(instance)


def test_a_failing_check_makes_a_passing_instance_critical_from_that_moment() -> None:
    passing = domain.record_check(an_instance(), CheckResult.passing("HTTP 200"), T0 + 1)

    failing = domain.record_check(passing, CheckResult.critical("HTTP 503"), T0 + 5)

    assert failing.health == Health(Status.CRITICAL, "HTTP 503", T0 + 5, T0 + 5)
    assert domain.status_changed(passing, failing)


def test_repeated_failures_keep_the_start_of_the_critical_streak() -> None:
    first = domain.record_check(an_instance(), CheckResult.critical("connection refused"), T0 + 2)
    second = domain.record_check(first, CheckResult.critical("timed out after 1s"), T0 + 4)

    assert second.health.critical_since == T0
    assert second.health.output == "timed out after 1s"
    assert not domain.status_changed(first, second)


def test_check_output_is_kept_short() -> None:
    instance = domain.record_check(an_instance(), CheckResult.critical("x" * 5000), T0)

    assert len(instance.health.output) == domain.MAX_OUTPUT_LENGTH


def test_an_instance_critical_longer_than_its_deregister_after_is_removed() -> None:
    instance = domain.record_check(an_instance(deregister_after_s=30), CheckResult.critical("HTTP 500"), T0 + 10)

    assert not domain.should_deregister(instance, T0 + 30)
    assert domain.should_deregister(instance, T0 + 30.001)


def test_a_passing_instance_is_never_removed() -> None:
    instance = domain.record_check(an_instance(deregister_after_s=1), CheckResult.passing("HTTP 200"), T0)

    assert not domain.should_deregister(instance, T0 + 3600)


def test_an_instance_without_deregister_after_stays_while_critical() -> None:
    instance = domain.record_check(an_instance(deregister_after_s=None), CheckResult.critical("HTTP 500"), T0)

    assert not domain.should_deregister(instance, T0 + 10 * 24 * 3600)


def test_recovering_resets_the_deregister_after_clock() -> None:
    instance = an_instance(deregister_after_s=10)
    instance = domain.record_check(instance, CheckResult.critical("HTTP 500"), T0 + 8)
    instance = domain.record_check(instance, CheckResult.passing("HTTP 200"), T0 + 9)
    instance = domain.record_check(instance, CheckResult.critical("HTTP 500"), T0 + 15)

    assert not domain.should_deregister(instance, T0 + 24)
    assert domain.should_deregister(instance, T0 + 25.5)


def test_re_registering_the_same_address_and_port_keeps_the_status() -> None:
    passing = domain.record_check(an_instance(), CheckResult.passing("HTTP 200"), T0 + 1)
    incoming = replace(an_instance(now=T0 + 20), tags=("v2",), meta={"version": "2.0"})

    updated = domain.register(incoming, passing)

    assert updated.health == passing.health
    assert updated.tags == ("v2",)
    assert updated.meta == {"version": "2.0"}


def test_re_registering_another_port_starts_over_awaiting_the_first_check() -> None:
    passing = domain.record_check(an_instance(), CheckResult.passing("HTTP 200"), T0 + 1)

    moved = domain.register(an_instance(port=8102, now=T0 + 20), passing)

    assert moved.port == 8102
    assert moved.health == Health(Status.CRITICAL, AWAITING_FIRST_CHECK, None, T0 + 20)


def test_the_metrics_target_puts_ipv6_addresses_in_brackets() -> None:
    assert an_instance().metrics_target == "127.0.0.1:8101"
    assert an_instance(address="::1", port=9000).metrics_target == "[::1]:9000"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2s", 2.0),
        ("2.0s", 2.0),
        ("500ms", 0.5),
        ("0.1s", 0.1),
        ("1m", 60.0),
        ("1m30s", 90.0),
        ("1.5h", 5400.0),
        ("250000us", 0.25),
        (".5s", 0.5),
    ],
)
def test_durations_are_read_like_consul_reads_them(text: str, seconds: float) -> None:
    assert domain.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "s", "2 s", "-1s", "1d", "0s", "1ns", "2s3", "abc", "200h"])
def test_malformed_zero_or_absurd_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|at least|at most"):
        domain.parse_duration(text)


def test_a_check_interval_below_ten_milliseconds_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 10ms"):
        domain.check_interval(0.005)


@pytest.mark.parametrize("value", ["catalogue-1", "catalogue-host.local-8101", "cart:2", "a", "x" * 128])
def test_sane_instance_ids_are_accepted(value: str) -> None:
    assert domain.check_instance_id(value) == value


@pytest.mark.parametrize("value", ["", "-x", "a b", "a/b", "ä", "x" * 129, "id\n"])
def test_instance_ids_with_odd_characters_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="characters"):
        domain.check_instance_id(value)


@pytest.mark.parametrize("value", ["catalogue", "user_v2", "a.b-c"])
def test_sane_service_names_are_accepted(value: str) -> None:
    assert domain.check_service_name(value) == value


@pytest.mark.parametrize("value", ["", "cat:1", "cat@x", "a b", "x" * 129])
def test_service_names_with_odd_characters_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="characters"):
        domain.check_service_name(value)


@pytest.mark.parametrize("value", ["http://127.0.0.1:8101/health", "https://cart.internal/_health?x=1"])
def test_http_and_https_health_urls_are_accepted(value: str) -> None:
    assert domain.check_http_url(value) == value


@pytest.mark.parametrize(
    "value", ["ftp://h/health", "127.0.0.1:8101/health", "http:///health", "http://h:99999/", "http://h/ x", ""]
)
def test_health_urls_that_are_not_http_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="http"):
        domain.check_http_url(value)


@pytest.mark.parametrize("value", ["127.0.0.1", "::1", "catalogue.svc.cluster.local", "fe80::1%eth0"])
def test_host_names_and_ip_addresses_are_accepted(value: str) -> None:
    assert domain.check_address(value) == value


@pytest.mark.parametrize("value", ["", "a b", "http://x", "x" * 256])
def test_addresses_that_are_not_hosts_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="host name"):
        domain.check_address(value)


def test_meta_is_limited_like_consuls() -> None:
    assert domain.check_meta({"version": "1.0"}) == {"version": "1.0"}
    with pytest.raises(ValueError, match="at most 64 entries"):
        domain.check_meta({str(n): "x" for n in range(65)})
    with pytest.raises(ValueError, match="value"):
        domain.check_meta({"k": "x" * 513})
