"""The status API app against a snapshot from the real snapshot code (no node loop)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from controller.api import models as m
from controller.api.app import ApiState, create_app, fixed_token
from controller.api.grid import Grid
from controller.api.metrics import METRICS, new_registry
from controller.api.readiness import readiness
from controller.cli.monitoring_cmd import openapi_text
from controller.core.group import Group
from controller.node.runtime import NodeRuntime
from controller.node.snapshot import snapshot
from controller.peer.keys import Keyring
from tests.helpers import ROOT, example

TOKEN = "0123456789abcdef-token"
NOW = 1_800_000_000.0
GRID = Grid(
    meter="sst1-meter", fresh=True, voltage_pu=0.962, loading_percent=104.5,
    trafo_loading_percent=71.0, grid_import_kw=12.5,
)  # fmt: skip


@pytest.fixture
async def live_snapshot() -> m.Snapshot:
    node = NodeRuntime(
        example("three-substations.toml"), "sst1", Keyring("k", {"k": bytes(32)}), api=False
    )
    assert snapshot(node, NOW).group == ["sst1"]  # a group of one until its first GM phase
    node.lb.group_changed(Group.static(["sst1", "sst2", "sst3"]), NOW)  # as the election forms it
    body = snapshot(node, NOW)
    body.state_collection.last = m.CollectionRecord(
        snapshot=1, leader="sst1", received=NOW - 0.3, took_ms=2.5, k=-30.0,
        answered=["sst1", "sst2", "sst3"], missing=[], in_transit_kw=0.0,
    )  # fmt: skip
    body.pstar = body.commanded = -20.0  # as read back when a node starts
    body.ledger.summary.command = -20.0
    await node.devices.close()
    body.timing.last_round_at = NOW - 0.05
    for device in body.devices:
        device.stale = False
    return body


@pytest.fixture
def client(live_snapshot: m.Snapshot) -> TestClient:
    state = ApiState("sst1")
    state.snapshot = live_snapshot
    return TestClient(
        create_app(state, registry=new_registry(), tokens=fixed_token(TOKEN), clock=lambda: NOW)
    )


def test_status_has_every_field_the_issue_names(client: TestClient) -> None:
    body = client.get("/api/v1/status").json()
    for key in (
        "node",
        "leader",
        "group",
        "state",
        "gateway",
        "net_generation",
        "predicted_gateway",
        "k",
        "mode",
    ):
        assert key in body
    assert body["counters"].keys() >= {"rounds", "cycles"}
    assert [d["id"] for d in body["devices"]] == [
        f"sst1-{n}" for n in ("gateway", "storage", "pv", "load", "logger", "omega")
    ]
    assert body["leader"] == "sst1"
    assert body["group"] == ["sst1", "sst2", "sst3"]
    assert body["group_id"] == "static"  # as the fixture set it
    assert body["gm"]["status"] == "normal"
    assert body["site_nodes"] == 3


def test_load_table_as_json_and_text(client: TestClient) -> None:
    table = client.get("/api/v1/load-table").json()
    assert table["text"].startswith("------- LOAD TABLE (Power Management) -------")
    text = client.get("/api/v1/load-table?format=text")
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.strip() == table["text"]
    assert (
        client.get("/api/v1/load-table?format=xml")
        .json()["error"]
        .startswith("query.format: Input should be 'json' or 'text'")
    )


def test_devices_list_every_point_and_filter_by_type(client: TestClient) -> None:
    devices = client.get("/api/v1/devices").json()
    assert {p["name"] for p in devices[0]["points"]} == {"gateway", "pstar"}
    assert all({"value", "unit", "timestamp"} <= set(p) for d in devices for p in d["points"])
    assert [d["id"] for d in client.get("/api/v1/devices?type=Desd").json()] == ["sst1-storage"]
    bad = client.get("/api/v1/devices?type=Transformer")
    assert bad.status_code == 422
    assert bad.json()["error"] == (
        "query.type: Input should be 'Desd', 'Drer', 'Evse', 'Fid', 'Load', 'Logger', 'Meter', 'Omega' "
        "or 'Sst'"
    )


def stale(s: m.Snapshot) -> None:
    next(d for d in s.devices if d.id == "sst1-load").stale = True


def peers_heard(at: float | None) -> Callable[[m.Snapshot], None]:
    def change(s: m.Snapshot) -> None:
        s.started_at = NOW - 60
        for peer in s.peers:
            peer.last_seen = at

    return change


def nested(path: str, value: object) -> Callable[[m.Snapshot], None]:
    *parents, key = path.split(".")

    def change(s: m.Snapshot) -> None:
        part: Any = s
        for name in parents:
            part = getattr(part, name)
        setattr(part, key, value)

    return change


READINESS = [
    ("ready", lambda s: None, []),
    ("stale", stale, ["devices stale: sst1-load"]),
    ("late", nested("timing.last_round_at", NOW - 10),
     ["no LB round for 10.0 s (one is due every 1.24 s cycle)"]),
    ("never", nested("timing.last_round_at", None), ["no LB round yet"]),
    ("released", nested("released", True), ["actuators released to failsafe values"]),
    ("recovering", nested("health.state", "recovering"),
     ["devices answer again; trusted after 2 s of answers"]),
    ("no-devices", nested("devices", []), ["the node has no devices"]),
    ("overruns", nested("recent.overruns", 5), ["5 LB rounds overran in the last 12.4 s"]),
    ("two-overruns", nested("recent.overruns", 2), []),
    ("peers-silent", peers_heard(NOW - 10), ["no datagram accepted from any peer for 10.0 s"]),
    ("peers-never", peers_heard(None), ["no datagram accepted from any peer ever"]),
    ("peers-heard", peers_heard(NOW - 1), []),
    ("clock-skew", nested("recent.datagrams", {"expired": 40, "accepted": 3}),
     ["40 of 43 peer datagrams in the last 30 s arrived expired: clocks further apart than the "
      "time-to-live (CSRC_DEFAULT_TIMEOUT)? synchronise them (NTP)"]),
    ("few-expired", nested("recent.datagrams", {"expired": 3, "accepted": 0}), []),
    ("disagreement", nested("disagreement", m.Disagreement(held=-20.0, commanded=-10.0, since=NOW)),
     ["the actuator holds -20 but the node commanded -10"]),
    ("disagreement-no-value", nested("disagreement", m.Disagreement(held=None, commanded=-10.0, since=NOW)),
     ["the actuator holds no value but the node commanded -10"]),
    ("unacknowledged", nested("ledger.summary.pending_since", NOW - 3.0),
     ["the actuator has not acknowledged PStar -20 for 3.0 s (0 failed writes)"]),
    ("twin-peer", nested("duplicates.peers", {"sst2": [1, 2]}),
     ["node id sst2 is used by two processes (boot epochs 1, 2)"]),
    ("alone", nested("group", ["sst1"]),
     ["alone: in no group with the site's other 2 node(s)"]),
    ("static-alone", lambda s: (nested("group", ["sst1"])(s), nested("gm", None)(s)), []),
    ("member-hears-its-leader", lambda s: (nested("leader", "sst2")(s), nested("state_collection.last.leader", "sst2")(s)), []),
    ("leader-gone", lambda s: (nested("leader", "sst2")(s), nested("state_collection.last.leader", "sst2")(s),
                               nested("state_collection.last.received", NOW - 10)(s)),
     ["leader sst2 gone: no state collection from it for 10.0 s"]),
    ("leader-never-heard", lambda s: (nested("leader", "sst2")(s), nested("started_at", NOW - 60)(s)),
     ["leader sst2 gone: no state collection from it yet", "no datagram accepted from any peer ever"]),
    ("twin-here", nested("duplicates.this_node", {"sst3": 5}),
     ["sst3 hears this node's id from another process too (epoch 5)"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "reasons"), [r[1:] for r in READINESS], ids=[r[0] for r in READINESS]
)
def test_readiness(
    live_snapshot: m.Snapshot, change: Callable[[m.Snapshot], None], reasons: list[str]
) -> None:
    change(live_snapshot)
    assert readiness(live_snapshot, NOW) == reasons


def test_readyz_and_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "node": "sst1"}
    assert client.get("/readyz").json() == {"ready": True, "reasons": []}
    empty = TestClient(create_app(ApiState("x"), registry=new_registry(), tokens=fixed_token(None)))
    answer = empty.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["reasons"] == ["no snapshot from the node yet"]
    assert empty.get("/api/v1/status").json() == {"error": "no snapshot from the node yet"}


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "writes need 'Authorization: Bearer <token>'"),
        ({"Authorization": "Bearer wrong"}, 403, "wrong token"),
        ({"Authorization": "Basic eDp5"}, 401, "writes need 'Authorization: Bearer <token>'"),
    ],
)
def test_writes_need_the_token(
    client: TestClient, headers: dict[str, str], status: int, error: str
) -> None:
    answer = client.put("/api/v1/control", json={"enabled": False}, headers=headers)
    assert answer.status_code == status
    assert answer.json() == {"error": error}


def test_writes_are_refused_without_a_token_file(live_snapshot: m.Snapshot) -> None:
    state = ApiState("sst1")
    state.snapshot = live_snapshot
    app = create_app(
        state,
        registry=new_registry(),
        tokens=fixed_token(None, "writes are disabled: token file /x not found"),
    )
    answer = TestClient(app).put(
        "/api/v1/control", json={"enabled": False}, headers={"Authorization": "Bearer a"}
    )
    assert answer.status_code == 403
    assert answer.json() == {"error": "writes are disabled: token file /x not found"}


def test_a_bad_body_names_the_field(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answer = client.put("/api/v1/control", json={"enable": False}, headers=auth)
    assert answer.status_code == 422
    assert (
        answer.json()["error"]
        == "body.enabled: Field required; body.enable: Extra inputs are not permitted"
    )
    answer = client.put("/api/v1/control", json={"enabled": "maybe"}, headers=auth)
    assert answer.json()["error"] == "body.enabled: Input should be a valid boolean"


AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("headers", "body", "status", "error"),
    [
        (JSON, b'{"enabled": 0}', 422, "body.enabled: Input should be a valid boolean"),
        (JSON, b'{"enabled": 1}', 422, "body.enabled: Input should be a valid boolean"),
        (JSON, b'{"enabled": "yes"}', 422, "body.enabled: Input should be a valid boolean"),
        (JSON, b'{"enabled": "on"}', 422, "body.enabled: Input should be a valid boolean"),
        (JSON, b'{"enabled": "true"}', 422, "body.enabled: Input should be a valid boolean"),
        (JSON, b"{not json", 422, "body.1: JSON decode error"),
        (JSON, b"", 422, "body: Field required"),
        (AUTH, b"", 422, "body: Field required"),
        ({**AUTH, "Content-Type": "application/x-www-form-urlencoded"}, b"enabled=false", 415,
         "the body must be application/json, not application/x-www-form-urlencoded"),
        ({**AUTH, "Content-Type": "text/plain"}, b"false", 415,
         "the body must be application/json, not text/plain"),
        (AUTH, b"false", 415, "the body must be application/json, not no content type"),
        (JSON, b'{"enabled": false, "pad": "' + b"x" * 20000 + b'"}', 413,
         "body larger than 16384 bytes"),
        ({"Content-Type": "application/json"}, b"x" * 100_000, 401,
         "writes need 'Authorization: Bearer <token>'"),
    ],
    ids=["0", "1", "yes", "on", "string-true", "not-json", "empty", "none", "form", "text",
         "no-type", "too-large", "unauthenticated-before-size"],
)  # fmt: skip
def test_bad_bodies_get_a_4xx_that_names_the_problem(
    client: TestClient, headers: dict[str, str], body: bytes, status: int, error: str
) -> None:
    answer = client.put("/api/v1/control", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"].startswith(error), answer.json()


def test_a_chunked_body_is_cut_off_at_the_limit(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"enabled": false, "pad": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    answer = client.put("/api/v1/control", content=chunks(), headers=JSON)
    assert answer.status_code == 413


def padding() -> Iterator[bytes]:
    yield b"x" * 1000


@pytest.mark.parametrize(
    ("headers", "body", "status", "closes"),
    [
        ({"Content-Type": "application/json"}, b'{"enabled": false}', 401, False),
        ({**AUTH, "Content-Type": "text/plain"}, b"x" * 16384, 415, False),
        ({"Content-Type": "application/json"}, b"x" * 16385, 401, True),
        (JSON, b"x" * 20000, 413, True),
        ({"Content-Type": "application/json"}, padding(), 401, True),  # chunked: length unknown
        ({"Content-Type": "application/json", "Expect": "100-continue"}, b"{}", 401, True),
    ],
    ids=["small", "at-the-limit", "beyond", "too-large", "chunked", "expect-continue"],
)
def test_a_refusal_keeps_the_connection_only_when_its_body_is_small(
    client: TestClient, headers: dict[str, str], body: Any, status: int, closes: bool
) -> None:
    """The server reads and drops a small refused body and the connection stays open; for a
    larger one, or one of unknown length, the refusal ends the connection."""
    answer = client.put("/api/v1/control", content=body, headers=headers)
    assert answer.status_code == status
    assert (answer.headers.get("connection") == "close") is closes


def test_unknown_paths_and_methods(client: TestClient) -> None:
    assert client.get("/api/v2/status").json() == {"error": "no such path: /api/v2/status"}
    answer = client.post("/api/v1/status")
    assert answer.status_code == 405
    assert answer.json() == {"error": "Method Not Allowed"}


def test_the_page_is_self_contained(client: TestClient) -> None:
    page = client.get("/").text
    assert '<svg id="chart"' in page
    assert 'EventSource("/api/v1/events")' in page
    for outside in ("http://", "https://", "//cdn", "@import", "fonts.googleapis"):
        assert outside not in page.replace("http://www.w3.org", "")


def round_event(at: float) -> dict[str, Any]:
    member = {
        "id": "n",
        "state": "normal",
        "age_s": 0.0,
        "gateway": 1.0,
        "net_generation": 1.0,
        "predicted_gateway": 1.0,
    }
    data = {
        "node": "n",
        "time": at,
        "round": 1,
        "duration_s": 0.003,
        "state": "normal",
        "k": 1.0,
        "residual": 0.0,
        "leader": "n",
        "group_id": "n.1.1",
        "group": [member],
    }
    return {"event": "round", "data": data}


def test_history_keeps_five_minutes_of_rounds() -> None:
    state = ApiState("n")
    client = TestClient(
        create_app(state, registry=new_registry(), tokens=fixed_token(None), clock=lambda: NOW)
    )
    for at in (NOW - 400, NOW - 200, NOW - 10, NOW):
        state.event(round_event(at))
    assert [e["time"] for e in client.get("/api/v1/history").json()] == [NOW - 200, NOW - 10, NOW]
    assert [e["time"] for e in client.get("/api/v1/history?seconds=60").json()] == [NOW - 10, NOW]
    assert (
        client.get("/api/v1/history?seconds=0").json()["error"]
        == "query.seconds: Input should be greater than 0"
    )


def test_metrics_has_every_metric(client: TestClient, live_snapshot: m.Snapshot) -> None:
    live_snapshot.grid = GRID  # the grid metrics have no sample without a meter's values
    text = client.get("/metrics").text
    exported = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert exported == set(METRICS)


def test_committed_openapi_matches_the_code() -> None:
    committed = (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == openapi_text(), (
        "docs/openapi.json is stale: run dgi openapi -o docs/openapi.json"
    )
    paths = json.loads(committed)["paths"]
    assert {"/api/v1/status", "/api/v1/load-table", "/api/v1/devices", "/api/v1/peers", "/api/v1/events",
            "/api/v1/history", "/api/v1/control", "/api/v1/ledger", "/healthz", "/readyz",
            "/api/v1/charge", "/api/v1/sessions", "/api/v1/sessions/{session_id}"} == set(paths)  # fmt: skip
