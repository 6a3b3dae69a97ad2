"""The load tester's pure parts: plans, percentiles, active sessions at every instant, the
summary and the exit status; and the HTTP client's head parsing and URL handling."""

from __future__ import annotations

import random

import pytest

from controller.loadtest import plan as plans
from controller.loadtest.client import HttpError, Target, parse_head
from controller.loadtest.stats import (
    Booking,
    Outcome,
    active_series,
    exit_status,
    latency_ms,
    percentile,
    summarize,
)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        (list(range(1, 101)), 50, 50),
        (list(range(1, 101)), 95, 95),
        (list(range(1, 101)), 99, 99),
        (list(range(1, 101)), 100, 100),
        (list(range(1, 501)), 99, 495),  # nearest rank: the 495th of 500
        (list(range(1, 11)), 99, 10),
        ([7.0], 50, 7.0),
        ([7.0], 99, 7.0),
        ([1, 2], 50, 1),
        ([1, 2], 51, 2),
    ],
    ids=[
        "p50",
        "p95",
        "p99",
        "p100",
        "p99-of-500",
        "p99-of-10",
        "one-p50",
        "one-p99",
        "two-p50",
        "two-p51",
    ],
)
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected


@pytest.mark.parametrize(
    ("values", "q"), [([], 50), ([1.0], 0), ([1.0], 101)], ids=["empty", "q0", "q101"]
)
def test_percentile_refuses(values: list[float], q: float) -> None:
    with pytest.raises(ValueError, match=r"percentile|no values"):
        percentile(values, q)


def test_latency_ms_is_milliseconds_and_empty_without_answers() -> None:
    assert latency_ms([0.001 * n for n in range(1, 101)]) == pytest.approx(
        {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    )
    assert latency_ms([]) == {}


def b(substation: str, started: float, end: float) -> Booking:
    return Booking(substation, started, end)


@pytest.mark.parametrize(
    ("bookings", "given", "peak", "spread"),
    [
        ([], (), {}, 0),
        ([b("a", 0, 10)], (), {"a": 1}, 0),
        # one session ends as the next starts: never two at once
        ([b("a", 0, 10), b("a", 10, 20)], (), {"a": 1}, 0),
        ([b("a", 0, 10), b("a", 5, 20)], (), {"a": 2}, 0),
        # round robin over three: at most one apart at every instant
        ([b("abc"[n % 3], n, 100 + n) for n in range(9)], (), {"a": 3, "b": 3, "c": 3}, 1),
        # herding: all on one; a substation named but never booked counts as idle
        ([b("a", n, 100) for n in range(5)], ("b", "c"), {"a": 5, "b": 0, "c": 0}, 5),
        ([b("a", n, 100) for n in range(5)], (), {"a": 5}, 0),
        # two starts at the same instant are applied together: the spread is 0, never 2
        ([b("a", 0, 10), b("a", 0, 10), b("b", 0, 10), b("b", 0, 10)], (), {"a": 2, "b": 2}, 0),
        # b ends early: a and b differ by 2 until a's sessions end
        ([b("a", 0, 10), b("a", 0, 10), b("b", 0, 5), b("b", 0, 10)], (), {"a": 2, "b": 2}, 1),
        ([b("a", 0, 10), b("a", 0, 10), b("b", 0, 5), b("b", 0, 5)], (), {"a": 2, "b": 2}, 2),
    ],
    ids=[
        "none",
        "one",
        "back-to-back",
        "overlap",
        "round-robin",
        "herd-named",
        "herd-seen-only",
        "same-instant",
        "one-ends-early",
        "two-end-early",
    ],
)
def test_active_sessions_at_every_instant(
    bookings: list[Booking], given: tuple[str, ...], peak: dict[str, int], spread: int
) -> None:
    series = active_series(bookings, given)
    assert series.peak() == peak
    assert series.max_spread() == spread


def test_active_series_rows() -> None:
    series = active_series([b("a", 0, 10), b("b", 5, 10), b("a", 10, 12)])
    assert series.substations == ("a", "b")
    assert series.times == (0, 5, 10, 12)
    assert series.counts == ((1, 0), (1, 1), (1, 0), (0, 0))


def booked(n: int, substation: str = "s1") -> Outcome:
    return Outcome(0.0, 0.01 * n, 201, booking=b(substation, n, n + 100))


def full(retry: float | None = 30.0) -> Outcome:
    return Outcome(0.0, 0.5, 503, retry_after_s=retry)


INVALID = Outcome(0.0, 0.02, 422)
TIMEOUT = Outcome(0.0, 10.0, error="timeout")
NO_BOOKING = Outcome(0.0, 0.03, 201, error="201 without substation/started/end")


def test_summary_counts_each_kind_of_outcome() -> None:
    outcomes = [
        booked(1, "s1"),
        booked(2, "s2"),
        booked(3, "s1"),
        full(),
        full(None),
        INVALID,
        TIMEOUT,
        NO_BOOKING,
    ]
    summary = summarize(outcomes, ("s3",))
    assert (summary.requests, summary.answered, summary.booked, summary.full) == (8, 7, 3, 2)
    assert summary.statuses == {"422": 1, "503": 2}
    assert summary.errors == {"201 without substation/started/end": 1, "timeout": 1}
    assert summary.failed == 3  # the 422, the time-out, the 201 without a booking
    assert summary.per_substation == {"s1": 2, "s2": 1}
    assert summary.peak_active == {"s1": 2, "s2": 1, "s3": 0}
    assert summary.max_spread == 2
    assert summary.retry_after_s == [30.0]
    assert summary.full_without_retry_after == 1
    assert summary.elapsed_s == 10.0
    assert summary.answered_per_s == pytest.approx(0.7)
    assert summary.latency_ms["max"] == pytest.approx(500.0)  # the time-out is no answer
    assert summary.as_dict()["failed"] == 3


@pytest.mark.parametrize(
    ("outcomes", "status"),
    [
        ([booked(1), booked(2)], 0),
        ([booked(1), full()], 3),
        ([full()], 3),
        ([booked(1), INVALID], 1),
        ([booked(1), full(), TIMEOUT], 1),
        ([NO_BOOKING], 1),
        ([Outcome(0.0, 0.1, 500)], 1),
    ],
    ids=[
        "all-booked",
        "some-full",
        "all-full",
        "invalid",
        "full-and-timeout",
        "201-without-booking",
        "500",
    ],
)
def test_exit_status(outcomes: list[Outcome], status: int) -> None:
    assert exit_status(summarize(outcomes)) == status


def test_spaced_plan_draws_gaps_from_its_range_reproducibly() -> None:
    plan = plans.spaced(30, (0.2, 1.0), random.Random(7))
    assert plan.requests == 30
    assert plan.offsets_s[0] == 0.0
    gaps = [b - a for a, b in zip(plan.offsets_s, plan.offsets_s[1:], strict=False)]
    assert all(0.2 <= g <= 1.0 for g in gaps)
    assert plan == plans.spaced(30, (0.2, 1.0), random.Random(7))
    assert plans.spaced(3, (0.0, 0.0), random.Random(1)).offsets_s == (0.0, 0.0, 0.0)


def test_rush_and_sustained_plans() -> None:
    assert plans.rush(500).offsets_s == (0.0,) * 500
    plan = plans.sustained(2000, 1.5)
    assert plan.requests == 3000
    assert plan.offsets_s[:3] == (0.0, 0.0005, 0.001)
    assert plan.offsets_s[-1] == pytest.approx(1.4995)


@pytest.mark.parametrize(
    ("make", "option"),
    [
        (lambda: plans.rush(0), "--requests 0"),
        (lambda: plans.spaced(5, (1.0, 0.5), random.Random()), "--gap 1 0.5"),
        (lambda: plans.spaced(5, (-1.0, 0.5), random.Random()), "--gap -1 0.5"),
        (lambda: plans.sustained(0, 5), "--rate 0"),
        (lambda: plans.sustained(10, 0), "--duration 0"),
    ],
    ids=["no-requests", "gap-reversed", "gap-negative", "no-rate", "no-duration"],
)
def test_plans_name_the_wrong_option(make: object, option: str) -> None:
    with pytest.raises(plans.PlanError, match=option):
        make()  # type: ignore[operator]


def test_charge_body_is_empty_unless_a_field_is_given() -> None:
    assert plans.charge_body() == b""
    assert plans.charge_body(power_kw=11.0) == b'{"power_kw":11.0}'
    assert plans.charge_body(power_kw=11.0, duration_s=60) == b'{"power_kw":11.0,"duration_s":60}'


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", Target("127.0.0.1", 8080, "/charge")),
        ("http://127.0.0.1:8080/", Target("127.0.0.1", 8080, "/charge")),
        ("http://127.0.0.1:8080/charge", Target("127.0.0.1", 8080, "/charge")),
        ("http://example.org/site", Target("example.org", 80, "/site/charge")),
        ("http://[::1]:81/api/v1/charge", Target("::1", 81, "/api/v1/charge")),
    ],
    ids=["host-port", "slash", "charge-given", "default-port", "ipv6-api"],
)
def test_target_appends_charge_unless_given(url: str, expected: Target) -> None:
    assert Target.parse(url, endpoint="/charge") == expected


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1:8443", "127.0.0.1:8080", "http://:80", "http://h:99999"]
)
def test_target_refuses_what_it_cannot_send_to(url: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)http://HOST|port"):
        Target.parse(url, endpoint="/charge")


def test_post_bytes() -> None:
    target = Target("127.0.0.1", 8080, "/charge")
    assert (
        target.post(b"")
        == b"POST /charge HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nContent-Length: 0\r\n\r\n"
    )
    assert target.post(b"{}").endswith(
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )


@pytest.mark.parametrize(
    ("head", "status", "keep"),
    [
        (b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n", 201, True),
        (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n", 503, False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Upgrade\r\n\r\n", 200, True),
        (b"HTTP/1.0 200 OK\r\n\r\n", 200, False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", 200, True),
        (b"HTTP/1.1 422\r\n\r\n", 422, True),  # no reason phrase
    ],
    ids=["201", "close", "keep-alive-list", "http10", "http10-keep-alive", "no-reason"],
)
def test_parse_head(head: bytes, status: int, keep: bool) -> None:
    assert parse_head(head, "here")[0::2] == (status, keep)


def test_parse_head_lower_cases_and_joins_headers() -> None:
    _, headers, _ = parse_head(
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\nRetry-After:  30 \r\n\r\n", "here"
    )
    assert headers == {"x-a": "1, 2", "retry-after": "30"}


@pytest.mark.parametrize(
    "head",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 2x1 No\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n",
    ],
    ids=["not-http", "http2", "bad-code", "bad-header"],
)
def test_parse_head_refuses_a_bad_answer(head: bytes) -> None:
    with pytest.raises(HttpError, match="here: bad") as caught:
        parse_head(head, "here")
    assert caught.value.kind == "bad answer"
