"""What a node publishes after each round: everything the status API and the metrics show,
as the one typed snapshot (:class:`controller.api.models.Snapshot`) and the round event.

The API process receives them over its link and serves them, so an API request never reaches
into the control loop.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from controller.api import models as m
from controller.api.grid import Grid
from controller.core.collected import MemberState
from controller.gm.core import GroupManager
from controller.lb.load_table import load_table, shown_state
from controller.sc.core import StateCollector

if TYPE_CHECKING:
    from controller.node.runtime import NodeRuntime


def snapshot(node: NodeRuntime, now: float) -> m.Snapshot:
    lb = node.lb
    disagreement = lb.disagreement
    health = node.health
    ledger = lb.ledger
    return m.Snapshot(
        node=node.node.id,
        site=node.site.name,
        mode=node.settings.mode,
        time=now,
        leader=lb.leader,
        group=sorted([node.node.id, *lb.peers]),
        group_id=lb.group_id,
        gm=group_management(node),
        state_collection=state_collection(node),
        site_nodes=len(node.site.nodes),
        state=lb.state,
        gateway=lb.gateway,
        net_generation=lb.net_generation,
        predicted_gateway=lb.predicted,
        k=lb.k,
        pstar=lb.readings.pstar,
        commanded=ledger.command if ledger.started else None,
        disagreement=None
        if disagreement is None
        else m.Disagreement(
            held=disagreement.held, commanded=disagreement.commanded, since=disagreement.since
        ),
        residual=lb.residual(now),
        synchronised=lb.synced,
        enabled=node.operator_enabled,
        dgi_enable=lb.readings.dgi_enable,
        released=node.released,
        health=m.DeviceHealth(
            state=health.state,
            since=health.unhealthy_since,
            recovering_since=health.fresh_since,
            hold_s=health.hold_s,
            recovery_s=health.recovery_s,
        ),
        ledger=m.Ledger.model_validate({"summary": ledger.summary(), "entries": ledger.recent()}),
        recent=m.Recent(
            window_s=node.core.recent.window_s,
            datagrams=dict(node.core.recent.counts(now)),
            overruns=node.overruns.counts(now)["overrun"],
            overrun_window_s=node.overruns.window_s,
        ),
        duplicates=m.Duplicates(
            peers={peer: list(pair) for peer, pair in node.core.twins.items()},
            this_node={r: epoch for r, (epoch, _) in node.core.twin_of_me.items()},
        ),
        started_at=node.started_at,
        counters=m.Counters(
            rounds=lb.rounds,
            cycles=node.cycles,
            round_overruns=node.skipped_rounds + node.scheduler.missed,
            migrations_in=lb.migrations_in,
            migrations_out=lb.migrations_out,
            command_disagreements=lb.disagreements,
            write_errors=node.devices.write_errors,
            failsafe_releases=health.releases,
        ),
        migration_outcomes=[(d, o, n) for (d, o), n in sorted(node.figures.outcomes.items())],
        timing=m.Timing(
            round_s=node.plan.round_s,
            cycle_s=node.plan.cycle_s,
            last_round_at=node.last_round_at,
            first_cycle_at=node.scheduler.first_cycle,
        ),
        devices=devices(node, now),
        peers=peers(node, now),
        datagrams=[(t, r, n) for (t, r), n in sorted(node.core.wire.stats.by_type.items())],
        load_table=table(node, now),
        histograms=m.Histograms.model_validate(
            {
                "round_duration_seconds": node.figures.rounds.snapshot(),
                "migration_latency_seconds": node.figures.migrations.snapshot(),
            }
        ),
        substation=substation(node),
        grid=Grid.of(lb.readings.grid),
    )


def substation(node: NodeRuntime) -> m.Substation:
    ev = node.core.ev
    load = node.lb.readings.drain
    if ev is None:
        return m.Substation(
            load_kw=load, capacity_kw=node.node.capacity_kw, charging_sessions=0,
            charge_requests=0,
        )  # fmt: skip
    return m.Substation(
        load_kw=load,
        capacity_kw=node.node.capacity_kw,
        charging_sessions=len(ev.confirmed),
        charge_requests=sum(ev.answered.values()),
        ev_capacity_kw=ev.settings.capacity_kw,
        ev_booked_kw=ev.booked_kw(),
        ev_sessions_total=ev.sessions_total,
        ev_refused_total=ev.admission.refused,
        charge_answers=dict(ev.answered),
    )


def group_management(node: NodeRuntime) -> m.GroupManagement | None:
    gm = node.core.modules.get("gm")
    if not isinstance(gm, GroupManager):
        return None
    return m.GroupManagement(
        status=gm.status,
        elections=gm.elections,
        recoveries=gm.recoveries,
        dropped=dict(gm.dropped),
    )


def state_collection(node: NodeRuntime) -> m.StateCollection:
    lb, sc = node.lb, node.core.modules.get("sc")
    last = lb.collected
    record = None
    if last is not None:
        record = m.CollectionRecord(
            snapshot=last.snapshot,
            leader=last.leader,
            received=last.received,
            took_ms=last.took_s * 1000,
            k=last.k,
            answered=sorted(last.members),
            missing=list(last.missing),
            in_transit_kw=last.in_transit,
        )
    collector = sc if isinstance(sc, StateCollector) else None
    return m.StateCollection(
        last=record,
        collections=0 if collector is None else collector.collections,
        partial=0 if collector is None else collector.partial,
        rounds_lost=lb.rounds_lost,
        lb_phases=lb.phases,
        dropped={} if collector is None else dict(collector.dropped),
    )


def devices(node: NodeRuntime, now: float) -> list[m.Device]:
    out = []
    for driver in node.devices.drivers.values():
        points = []
        for point in driver.profile.points:
            value = driver.values.get(point.name)
            points.append(
                m.Point(
                    name=point.name,
                    signal=point.signal,
                    value=value.value if value else None,
                    unit=point.unit,
                    timestamp=value.timestamp if value else None,
                    access=point.access,
                    role=sorted(point.roles),
                )
            )
        out.append(
            m.Device(
                id=driver.device_id,
                type=driver.profile.device_type,
                profile=driver.profile.name,
                stale=driver.is_stale(now),
                last_read=driver.last_ok,
                error=str(driver.last_error) if driver.last_error else None,
                requests=driver.stats.requests,
                errors=driver.stats.errors,
                points=points,
            )
        )
    return out


def peers(node: NodeRuntime, now: float) -> list[m.Peer]:
    lb = node.lb
    results: Counter[tuple[str, str]] = node.core.wire.stats.by_peer
    out = []
    for peer in sorted(n.id for n in node.site.nodes if n.id != node.node.id):
        view = lb.peer_view(peer, now)
        dropped = {r: n for (p, r), n in results.items() if p == peer and r != "accepted"}
        out.append(
            m.Peer(
                id=peer,
                in_group=peer in lb.peers,
                state=shown_state(view),
                age_s=view.age_s,
                status=None if view.status is None else status_body(view.status),
                draft_set=lb.sets.get(peer),
                last_seen=node.core.last_seen.get(peer),
                delay_ms=node.core.delay_ms.get(peer),
                accepted=results.get((peer, "accepted"), 0),
                dropped=dropped,
            )
        )
    return out


def status_body(status: MemberState) -> m.PeerStatus:
    return m.PeerStatus(
        state=status.state,
        gateway=status.gateway,
        net_generation=status.net_generation,
        predicted_gateway=status.predicted,
    )


def table(node: NodeRuntime, now: float) -> m.LoadTable:
    lb = node.lb
    views = {p: lb.peer_view(p, now) for p in lb.peers}
    text = load_table(lb.readings, node_id=node.node.id, state=lb.state, k=lb.k, peers=views)
    readings = lb.readings
    this = m.LoadTableNode(id=node.node.id, state=lb.state, age_s=0.0, this_node=True)
    return m.LoadTable(
        text=text,
        net_drer=readings.generation,
        net_desd=readings.storage,
        net_load=readings.drain,
        counts=dict(readings.counts or {}),
        gateway=readings.gateway,
        net_generation=readings.net_generation,
        predicted_k=lb.k,
        residual=lb.residual(now),
        nodes=[this]
        + [
            m.LoadTableNode(id=p, state=shown_state(v), age_s=v.age_s, this_node=False)
            for p, v in sorted(views.items())
        ],
    )


def round_event(node: NodeRuntime, now: float, duration_s: float) -> m.RoundEvent:
    """The SSE round event: this node and the group as it last heard of it."""
    lb = node.lb
    group = [
        m.GroupMember(
            id=node.node.id,
            state=lb.state,
            age_s=0.0,
            gateway=lb.gateway,
            net_generation=lb.net_generation,
            predicted_gateway=lb.predicted,
        )
    ]
    for peer in lb.peers:
        view = lb.peer_view(peer, now)
        status = view.status
        group.append(
            m.GroupMember(
                id=peer,
                state=shown_state(view),
                age_s=view.age_s,
                gateway=None if status is None else status.gateway,
                net_generation=None if status is None else status.net_generation,
                predicted_gateway=None if status is None else status.predicted,
            )
        )
    return m.RoundEvent(
        node=node.node.id,
        time=now,
        round=lb.rounds,
        duration_s=duration_s,
        state=lb.state,
        k=lb.k,
        residual=lb.residual(now),
        leader=lb.leader,
        group_id=lb.group_id,
        group=group,
    )
