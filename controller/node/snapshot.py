"""What a node publishes after each round: everything the status API and the metrics show.

Plain JSON-ready dicts. The API process serves them as they are, so an API request never
reaches into the control loop.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import TYPE_CHECKING, Any

from controller.lb.load_table import load_table, shown_state
from controller.lb.messages import Status

if TYPE_CHECKING:
    from controller.node.runtime import NodeRuntime

Json = dict[str, Any]


def snapshot(node: NodeRuntime, now: float) -> Json:
    lb = node.lb
    disagreement = lb.disagreement
    recent = node.core.recent.counts(now)
    return {
        "node": node.node.id,
        "site": node.site.name,
        "mode": node.settings.mode,
        "time": now,
        "leader": lb.leader,
        "group": sorted([node.node.id, *lb.peers]),
        "state": lb.state,
        "gateway": lb.gateway,
        "net_generation": lb.net_generation,
        "predicted_gateway": lb.predicted,
        "k": lb.k,
        "pstar": lb.readings.pstar,
        "commanded": lb.ledger.command if lb.ledger.started else None,
        "disagreement": None if disagreement is None else dataclasses.asdict(disagreement),
        "residual": lb.residual(now),
        "synchronised": lb.synced,
        "enabled": node.operator_enabled,
        "dgi_enable": lb.readings.dgi_enable,
        "released": node.released,
        "health": {
            "state": node.health.state,
            "since": node.health.unhealthy_since,
            "recovering_since": node.health.fresh_since,
            "hold_s": node.health.hold_s,
            "recovery_s": node.health.recovery_s,
        },
        "ledger": {"summary": lb.ledger.summary(), "entries": lb.ledger.recent()},
        "recent": {
            "window_s": node.core.recent.window_s,
            "datagrams": dict(recent),
            "overruns": node.overruns.counts(now)["overrun"],
            "overrun_window_s": node.overruns.window_s,
        },
        "duplicates": {
            "peers": {peer: list(pair) for peer, pair in node.core.twins.items()},
            "this_node": {r: epoch for r, (epoch, _) in node.core.twin_of_me.items()},
        },
        "started_at": node.started_at,
        "counters": {
            "rounds": lb.rounds,
            "cycles": node.cycles,
            "round_overruns": node.skipped_rounds + node.scheduler.missed,
            "migrations_in": lb.migrations_in,
            "migrations_out": lb.migrations_out,
            "command_disagreements": lb.disagreements,
            "write_errors": node.devices.write_errors,
            "failsafe_releases": node.health.releases,
        },
        "migration_outcomes": [[d, o, n] for (d, o), n in sorted(node.figures.outcomes.items())],
        "timing": {
            "round_s": node.plan.round_s,
            "cycle_s": node.plan.cycle_s,
            "last_round_at": node.last_round_at,
            "first_cycle_at": node.scheduler.first_cycle,
        },
        "devices": devices(node, now),
        "peers": peers(node, now),
        "datagrams": [[t, r, n] for (t, r), n in sorted(node.core.wire.stats.by_type.items())],
        "load_table": table(node, now),
        "histograms": {
            "round_duration_seconds": node.figures.rounds.snapshot(),
            "migration_latency_seconds": node.figures.migrations.snapshot(),
        },
        "substation": {
            "load_kw": lb.readings.drain,
            "capacity_kw": node.node.capacity_kw,
            "charging_sessions": 0,
            "charge_requests": 0,
        },
    }


def devices(node: NodeRuntime, now: float) -> list[Json]:
    out = []
    for driver in node.devices.drivers.values():
        points = []
        for point in driver.profile.points:
            value = driver.values.get(point.name)
            points.append(
                {
                    "name": point.name,
                    "signal": point.signal,
                    "value": value.value if value else None,
                    "unit": point.unit,
                    "timestamp": value.timestamp if value else None,
                    "access": point.access,
                    "role": sorted(point.roles),
                }
            )
        out.append(
            {
                "id": driver.device_id,
                "type": driver.profile.device_type,
                "profile": driver.profile.name,
                "stale": driver.is_stale(now),
                "last_read": driver.last_ok,
                "error": str(driver.last_error) if driver.last_error else None,
                "requests": driver.stats.requests,
                "errors": driver.stats.errors,
                "points": points,
            }
        )
    return out


def peers(node: NodeRuntime, now: float) -> list[Json]:
    lb = node.lb
    results: Counter[tuple[str, str]] = node.core.wire.stats.by_peer
    out = []
    for peer in lb.peers:
        view = lb.peer_view(peer, now)
        dropped = {r: n for (p, r), n in results.items() if p == peer and r != "accepted"}
        out.append(
            {
                "id": peer,
                "state": shown_state(view),
                "age_s": view.age_s,
                "status": None if view.status is None else status_body(view.status),
                "draft_set": lb.sets.get(peer),
                "last_seen": node.core.last_seen.get(peer),
                "delay_ms": node.core.delay_ms.get(peer),
                "accepted": results.get((peer, "accepted"), 0),
                "dropped": dropped,
            }
        )
    return out


UNHEARD: Json = {"gateway": None, "net_generation": None, "predicted_gateway": None}


def status_body(status: Status) -> Json:
    return {
        "state": status.state,
        "gateway": status.gateway,
        "net_generation": status.net_generation,
        "predicted_gateway": status.predicted,
    }


def table(node: NodeRuntime, now: float) -> Json:
    lb = node.lb
    views = {p: lb.peer_view(p, now) for p in lb.peers}
    text = load_table(lb.readings, node_id=node.node.id, state=lb.state, k=lb.k, peers=views)
    readings = lb.readings
    return {
        "text": text,
        "net_drer": readings.generation,
        "net_desd": readings.storage,
        "net_load": readings.drain,
        "counts": dict(readings.counts or {}),
        "gateway": readings.gateway,
        "net_generation": readings.net_generation,
        "predicted_k": lb.k,
        "residual": lb.residual(now),
        "nodes": [{"id": node.node.id, "state": lb.state, "age_s": 0.0, "this_node": True}]
        + [
            {"id": p, "state": shown_state(v), "age_s": v.age_s, "this_node": False}
            for p, v in sorted(views.items())
        ],
    }


def round_event(node: NodeRuntime, now: float, duration_s: float) -> Json:
    """The SSE round event: this node and the group as it last heard of it."""
    lb = node.lb
    group = [
        {
            "id": node.node.id,
            "state": lb.state,
            "age_s": 0.0,
            "gateway": lb.gateway,
            "net_generation": lb.net_generation,
            "predicted_gateway": lb.predicted,
        }
    ]
    for peer in lb.peers:
        view = lb.peer_view(peer, now)
        body = status_body(view.status) if view.status is not None else dict(UNHEARD)
        group.append({"id": peer, **body, "state": shown_state(view), "age_s": view.age_s})
    return {
        "node": node.node.id,
        "time": now,
        "round": lb.rounds,
        "duration_s": duration_s,
        "state": lb.state,
        "k": lb.k,
        "residual": lb.residual(now),
        "group": group,
    }
