"""EV admission rules (pure): request fields named when bad, ranking by headroom with the
entry node's own reservations, and a substation's admission that never exceeds its capacity
and never books an EV twice, whatever order a burst of requests arrives in."""

from __future__ import annotations

import random

import pytest

from controller.ev.admission import Admission
from controller.ev.rules import (
    ChargeRequest,
    Defaults,
    Refusal,
    RequestError,
    Session,
    View,
    ranked,
)


def test_an_empty_request_gets_the_site_defaults() -> None:
    request = ChargeRequest.of(ev_id="ev-1")
    assert (request.power_kw, request.duration_s) == (7.0, 3600.0)
    assert ChargeRequest.of(ev_id="ev-2", power_kw=10.0, energy_kwh=5.0).duration_s == 1800.0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ev_id": ""}, "ev_id"),
        ({"ev_id": "x" * 65}, "ev_id"),
        ({"ev_id": "a", "power_kw": 0.5}, "power_kw"),
        ({"ev_id": "a", "power_kw": float("nan")}, "power_kw"),
        ({"ev_id": "a", "power_kw": 1e6}, "power_kw"),
        ({"ev_id": "a", "energy_kwh": -1.0}, "energy_kwh"),
        ({"ev_id": "a", "energy_kwh": 1.0, "duration_s": 60.0}, "energy_kwh"),
        ({"ev_id": "a", "duration_s": 0.0}, "duration_s"),
        ({"ev_id": "a", "duration_s": 1e9}, "duration_s"),
        ({"ev_id": "a", "priority": 99}, "priority"),
    ],
)
def test_a_bad_field_is_named(fields: dict[str, object], field: str) -> None:
    with pytest.raises(RequestError) as error:
        ChargeRequest.of(**fields)  # type: ignore[arg-type]
    assert error.value.field == field


def test_the_entry_node_ranks_by_headroom_counting_its_own_reservations() -> None:
    views = [View("a", 60.0, 10.0), View("b", 60.0, 10.0), View("c", 60.0, 30.0)]
    assert ranked(views, {}) == ["a", "b", "c"]  # a tie goes to the lowest id
    assert ranked(views, {"a": 7.0}) == ["b", "a", "c"]  # a reservation counts at once
    assert ranked(views, {"a": 21.0, "b": 14.0}) == ["b", "c", "a"]  # 36, 30 and 29 kW left
    assert ranked(views, {"a": 25.0, "b": 25.0}) == ["c", "a", "b"]
    assert ranked(views, {}, exclude=["a"]) == ["b", "c"]


def test_a_burst_spreads_one_session_at_a_time() -> None:
    """500 requests from one entry node over three equal substations: with reservations
    counted as they are made, the counts never differ by more than one."""
    views = [View(n, 10_000.0, 0.0) for n in ("a", "b", "c")]
    reserved = dict.fromkeys("abc", 0.0)
    counts = dict.fromkeys("abc", 0)
    for _ in range(500):
        target = ranked(views, reserved)[0]
        reserved[target] += 7.0
        counts[target] += 1
        assert max(counts.values()) - min(counts.values()) <= 1


def test_admission_grants_less_rather_than_refuse_then_refuses_with_retry_after() -> None:
    admission = Admission("a", 18.0)  # 5 kW of other load: 13 kW for EVs
    first = admission.admit(ChargeRequest("ev1", 7.0, 600.0), 5.0, 0.0)
    second = admission.admit(ChargeRequest("ev2", 7.0, 600.0), 5.0, 0.0)
    assert isinstance(first, Session)
    assert first.granted_kw == 7.0
    assert isinstance(second, Session)
    assert second.granted_kw == pytest.approx(6.0)  # what is left, for the same time
    assert second.ends == pytest.approx(600.0)
    refused = admission.admit(ChargeRequest("ev3", 7.0, 600.0), 5.0, 590.0)
    assert isinstance(refused, Refusal)
    assert refused.retry_after_s == pytest.approx(10.0)  # when ev1's session ends
    assert "0.0 kW free of 18 kW" in refused.reason


def test_a_repeated_ev_id_gets_its_session_again() -> None:
    admission = Admission("a", 20.0)
    first = admission.admit(ChargeRequest("ev1", 7.0, 600.0), 0.0, 0.0)
    again = admission.admit(ChargeRequest("ev1", 11.0, 60.0), 0.0, 5.0)
    assert again == first
    assert admission.committed_kw() == 7.0


def test_sessions_end_on_time_or_early_and_free_their_power() -> None:
    admission = Admission("a", 14.0)
    first = admission.admit(ChargeRequest("ev1", 7.0, 60.0), 0.0, 0.0)
    second = admission.admit(ChargeRequest("ev2", 7.0, 600.0), 0.0, 0.0)
    assert isinstance(first, Session)
    assert isinstance(second, Session)
    assert isinstance(admission.admit(ChargeRequest("ev3", 7.0, 60.0), 0.0, 1.0), Refusal)
    assert [s.id for s in admission.expire(60.0)] == [first.id]
    assert isinstance(admission.admit(ChargeRequest("ev3", 7.0, 60.0), 0.0, 60.0), Session)
    assert admission.end(second.id, 61.0) == second
    assert admission.end(second.id, 62.0) is None
    assert admission.committed_kw() == 7.0


@pytest.mark.parametrize("seed", range(50))
def test_no_order_of_requests_repeats_and_ends_books_past_the_capacity(seed: int) -> None:
    """At every admission the new session fits: the active sessions and the other load of
    that moment stay within the capacity; an EV has at most one session."""
    rng = random.Random(seed)
    admission = Admission("a", rng.uniform(10, 100), Defaults())
    now = 0.0
    for _ in range(300):
        now += rng.uniform(0, 5)
        base = rng.uniform(0, 20)
        request = ChargeRequest.of(
            ev_id=f"ev{rng.randrange(150)}",  # repeats: some requests are retries
            power_kw=rng.uniform(1.4, 22),
            duration_s=rng.uniform(10, 600),
        )
        before = set(admission.sessions)
        answer = admission.admit(request, base, now)
        if isinstance(answer, Session) and answer.id not in before:
            assert admission.committed_kw() <= admission.capacity_kw - base + 1e-9
            if rng.random() < 0.1:
                admission.end(answer.id, now)
        assert len(admission.by_ev) == len(admission.sessions)
        assert len({s.ev_id for s in admission.sessions.values()}) == len(admission.sessions)
