"""EV charging across three ``dgi run`` processes on 127.0.0.1, as its clients use it.

A rush of 500 requests released together through one entry node: every one answered, none
booked twice, no substation over its capacity — checked against the sessions each substation
lists itself, not the entry's answers alone — and the busiest and idlest substation never more
than one session apart. Capacity exhausted → 503 with Retry-After, accepted again once sessions
end; a node killed mid-run keeps its sessions and ends them on time; a target killed under an
entry node's requests is routed around; bad bodies are refused naming the field.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.system.charge_client import burst, most_minus_least_active, one
from tests.system.lab import Lab, until

NODES = ("sst1", "sst2", "sst3")
pytestmark = pytest.mark.timeout(240)


def ev_site(ev_capacity_kw: float, *, duration_s: float = 600.0) -> Callable[[str], str]:
    """An edit of the site file: every node's charging capacity, the site's [ev] table."""
    table = f"\n[ev]\nduration_s = {duration_s}\n"

    def edit(text: str) -> str:
        text = text.replace("capacity_kw = 60.0", f"capacity_kw = 60.0\nev_capacity_kw = "
                            f"{ev_capacity_kw}")  # fmt: skip
        return text.replace("\n[[nodes]]", table + "\n[[nodes]]", 1)

    return edit


def start(lab: Lab) -> None:
    lab.start_simulator()
    for node in NODES:
        lab.start_node(node)


async def wait_group(lab: Lab, size: int = 3) -> None:
    def grouped() -> bool:
        return all(len(lab.api(n, "/api/v1/status")["group"]) == size for n in NODES)

    await until(grouped, 30, f"a group of {size}")


def listed(lab: Lab, node: str) -> list[dict[str, object]]:
    sessions: list[dict[str, object]] = lab.api(node, "/api/v1/sessions")["sessions"]
    return sessions


@pytest.fixture
def lab(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Lab]:
    started: list[subprocess.Popen[bytes]] = []
    capacity, duration = request.param
    lab = Lab.create(tmp_path, started, edit=ev_site(capacity, duration_s=duration))
    try:
        yield lab
    finally:
        for process in started:
            if process.poll() is None:
                process.terminate()
        for process in started:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.mark.parametrize("lab", [(1200.0, 600.0)], indirect=True)
async def test_a_rush_of_500_spreads_evenly_and_books_each_once(lab: Lab) -> None:
    start(lab)
    await wait_group(lab)
    entry = lab.site.node("sst1").api
    bodies = [{"ev_id": f"car-{i}"} for i in range(500)]
    started = time.perf_counter()
    answers = await burst(entry, bodies)
    took = time.perf_counter() - started
    statuses = Counter(a.status for a in answers)
    assert statuses == {201: 500}, [a.body for a in answers if a.status != 201][:3]
    sessions = [a.body["session_id"] for a in answers]
    assert len(set(sessions)) == 500
    per = Counter(a.body["substation"] for a in answers)
    assert set(per) == set(NODES), per
    assert max(per.values()) - min(per.values()) <= 1, per
    assert most_minus_least_active(answers, list(NODES)) <= 1
    # what the substations hold, as they list it: each session once, within capacity
    held = {n: listed(lab, n) for n in NODES}
    ids = [s["session_id"] for n in NODES for s in held[n]]
    assert sorted(ids) == sorted(sessions)
    for node in NODES:
        assert sum(float(s["granted_kw"]) for s in held[node]) <= 1200.0  # type: ignore[arg-type]
        assert len(held[node]) == per[node]
    # the same ev_id again: the same booking, not a second one
    again = await burst(entry, [{"ev_id": "car-7"}, {"ev_id": "car-7"}])
    first = next(a for a in answers if a.body["ev_id"] == "car-7")
    assert [a.body["session_id"] for a in again] == [first.body["session_id"]] * 2
    assert sum(len(listed(lab, n)) for n in NODES) == 500
    # metrics follow the sessions
    metrics = (await one(lab.site.node("sst2").api, "GET", "/metrics", raw=b"")).body
    assert f"substation_current_load {float(per['sst2'])}" in metrics
    latencies = sorted(a.latency_s for a in answers)
    print(f"rush of 500: {took:.2f} s, p99 {latencies[494] * 1000:.0f} ms, {dict(per)}")


@pytest.mark.parametrize("lab", [(14.0, 4.0)], indirect=True)
async def test_full_gets_503_with_retry_after_then_accepted_after_sessions_end(
    lab: Lab,
) -> None:
    start(lab)
    await wait_group(lab)
    entry = lab.site.node("sst2").api
    answers = await burst(entry, [{"power_kw": 7.0} for _ in range(6)])
    assert [a.status for a in answers] == [201] * 6
    full = await one(entry, "POST", "/api/v1/charge", {"power_kw": 7.0})
    assert full.status == 503, full.body
    assert 1 <= int(full.headers["retry-after"]) <= 30
    assert full.body["retry_after_s"] == int(full.headers["retry-after"])
    assert "no substation can take" in full.body["error"]
    ends = max(a.body["expected_end"] for a in answers)
    await asyncio.sleep(max(0.0, ends - time.time()) + 0.5)
    assert all(listed(lab, n) == [] for n in NODES)
    later = await one(entry, "POST", "/api/v1/charge", {"power_kw": 7.0})
    assert later.status == 201, later.body


@pytest.mark.parametrize("lab", [(100.0, 12.0)], indirect=True)
async def test_a_node_killed_mid_run_keeps_its_sessions_and_ends_them_on_time(
    lab: Lab,
) -> None:
    start(lab)
    await wait_group(lab)
    entry = lab.site.node("sst1").api
    answers = await burst(entry, [{"ev_id": f"k{i}"} for i in range(9)])
    assert all(a.status == 201 for a in answers)
    at_sst2 = sorted(a.body["session_id"] for a in answers if a.body["substation"] == "sst2")
    assert len(at_sst2) == 3
    lab.kill_node("sst2")
    lab.start_node("sst2")
    restarted = await until(lambda: listed(lab, "sst2"), 20, "sst2's API back with sessions")
    assert sorted(s["session_id"] for s in restarted) == at_sst2
    ends = max(a.body["expected_end"] for a in answers if a.body["substation"] == "sst2")
    assert time.time() < ends, "the restart took longer than the sessions"
    await asyncio.sleep(max(0.0, ends - time.time()) + 1.0)
    assert listed(lab, "sst2") == []
    log = lab.log("sst2")
    assert "3 charging session(s) taken up from the session store" in log


@pytest.mark.parametrize("lab", [(1000.0, 600.0)], indirect=True)
async def test_an_entry_whose_target_dies_routes_elsewhere(lab: Lab) -> None:
    start(lab)
    await wait_group(lab)
    entry = lab.site.node("sst1").api
    lab.kill_node("sst3")  # before the group notices: sst3 is still in sst1's view
    answers = await burst(entry, [{"ev_id": f"d{i}"} for i in range(30)])
    assert [a.status for a in answers] == [201] * 30, [a.body for a in answers]
    assert {a.body["substation"] for a in answers} <= {"sst1", "sst2"}
    assert max(a.latency_s for a in answers) < 4.0  # one answer time-out (2 s) at most
    ids = [s["session_id"] for n in ("sst1", "sst2") for s in listed(lab, n)]
    assert sorted(ids) == sorted(a.body["session_id"] for a in answers)


BAD: list[tuple[bytes, int, str]] = [
    (b'{"power_kw": "fast"}', 422, "power_kw"),
    (b'{"power_kw": 0.1}', 422, "power_kw"),
    (b'{"power_kw": 1e9}', 422, "power_kw"),
    (b'{"energy_kwh": -3}', 422, "energy_kwh"),
    (b'{"energy_kwh": 10, "duration_s": 60}', 422, "energy_kwh"),
    (b'{"duration_s": 0}', 422, "duration_s"),
    (b'{"priority": 99}', 422, "priority"),
    (b'{"ev_id": ""}', 422, "ev_id"),
    (b'{"ev_id": 5}', 422, "ev_id"),
    (b'{"power": 7}', 422, "power"),
    (b"[1, 2]", 422, "body"),
    (b"{not json", 422, "body"),
]


@pytest.mark.parametrize("lab", [(100.0, 60.0)], indirect=True)
async def test_bad_bodies_are_refused_naming_the_field_and_no_body_is_fine(lab: Lab) -> None:
    start(lab)
    await wait_group(lab)
    entry = lab.site.node("sst3").api
    for raw, status, field in BAD:
        answer = await one(entry, "POST", "/api/v1/charge", raw=raw)
        assert answer.status == status, (raw, answer.body)
        assert answer.body["error"].startswith(field), (raw, answer.body)
    wrong_type = await one(
        entry, "POST", "/charge", raw=b"ev_id=1", headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status == 415
    empty = await one(entry, "POST", "/charge")
    assert empty.status == 201, empty.body
    assert empty.body["granted_kw"] == 7.0
    assert empty.body["ev_id"].startswith("ev-sst3-")
    token = (lab.directory / "api.token").read_text().strip()
    session = empty.body["session_id"]
    node = lab.site.node(empty.body["substation"]).api
    refused = await one(node, "DELETE", f"/api/v1/sessions/{session}")
    assert refused.status == 401
    auth = {"Authorization": f"Bearer {token}"}
    ended = await one(node, "DELETE", f"/api/v1/sessions/{session}", headers=auth)
    assert ended.status == 200
    assert ended.body["session_id"] == session
    gone = await one(node, "DELETE", f"/api/v1/sessions/{session}", headers=auth)
    assert gone.status == 404
    assert listed(lab, empty.body["substation"]) == []
