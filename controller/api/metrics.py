"""Prometheus metrics of a node, built from its latest snapshot at scrape time.

The only module that uses prometheus-client. Metric names are ``dgi_*``; the EV view keeps
the original project's ``substation_current_load`` (active charging sessions). Metrics carry
no node or substation label: Prometheus adds those as target labels (``dgi prometheus-config``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from controller.api.models import Histogram, Snapshot
from controller.lb.rules import STATES

#: Every metric a node exports, with its help text (the dashboard and rule tests check against it).
METRICS = {
    "dgi_lb_state": "1 for the load balancer's current state (label state), 0 for the others",
    "dgi_gateway_kw": "G: measured gateway power, + = exported to the bus",
    "dgi_net_generation_kw": "NG: generation + storage - drain",
    "dgi_predicted_gateway_kw": "PG: the gateway the node has commanded",
    "dgi_pstar_kw": "the PStar the actuator holds, read back from the device",
    "dgi_pstar_commanded_kw": "the PStar the node commands (its ledger)",
    "dgi_command_disagreement": "1 while the actuator does not hold the node's command",
    "dgi_command_disagreements_total": "times the actuator stopped holding the node's command",
    "dgi_group_residual_kw": "sum of NG - PG over the group: what migrations cannot balance",
    "dgi_failsafe_releases_total": "times the node released its actuators to failsafe values",
    "dgi_actuator_write_errors_total": "actuator writes that failed (each written again)",
    "dgi_ready": "1 when the node is ready (/readyz answers 200)",
    "dgi_duplicate_node_ids": "node ids heard from two processes at once (this node's included)",
    "dgi_gross_power_flow_kw": "K: predicted gross power flow of the group",
    "dgi_migrations_total": "migrations by direction (in/out) and outcome",
    "dgi_migration_latency_seconds": "supply side: DraftRequest sent to the migration settled",
    "dgi_round_duration_seconds": "LB round: device reads, decision and sends",
    "dgi_round_overruns_total": "LB rounds that could not run on time",
    "dgi_rounds_total": "LB rounds run",
    "dgi_peer_datagrams_total": "peer datagrams by message type and result (accepted, drop reason)",
    "dgi_group_size": "nodes in this node's group",
    "dgi_is_leader": "1 when this node leads its group",
    "dgi_gm_elections_total": "groups this node formed as their leader (invitation election)",
    "dgi_gm_recoveries_total": "times this node started over as a group of one",
    "dgi_sc_duration_seconds": "the last state collection: the leader's marker to its last answer",
    "dgi_sc_collected_nodes": "nodes whose state the last state collection holds",
    "dgi_sc_missing_nodes": "members that did not answer the last state collection in time",
    "dgi_sc_collections_total": "state collections this node completed as leader",
    "dgi_sc_partial_total": "state collections completed with some member missing",
    "dgi_lb_rounds_lost_total": "LB rounds that could have drafted but had no collected state yet",
    "dgi_enabled": "1 when the node takes part (operator gate and Logger dgiEnable)",
    "dgi_released": "1 when the actuators are released to failsafe values",
    "dgi_device_value": "last value read from a device point",
    "dgi_device_last_read_timestamp_seconds": "Unix time of the last successful read of a device",
    "dgi_device_stale": "1 when a device has not answered recently",
    "dgi_device_errors_total": "failed requests to a device",
    "dgi_substation_load_kw": "the substation's load (drain of loads and EV chargers)",
    "dgi_substation_capacity_kw": "the substation's capacity (site file)",
    "dgi_charge_requests_total": "EV charging requests answered by this node as entry node",
    "substation_current_load": "active EV charging sessions at the substation",
    "dgi_ev_capacity_kw": "the power the substation's EV sessions may take together",
    "dgi_ev_booked_kw": "the granted power of the substation's active EV sessions",
    "dgi_ev_sessions_total": "EV charging sessions booked at this substation",
    "dgi_ev_refused_total": "EV admissions this substation refused (no capacity)",
    "dgi_bus_voltage_pu": "voltage at the substation's bus, per unit (its grid meter)",
    "dgi_line_loading_percent": "highest loading of the lines at the substation's bus, percent",
    "dgi_trafo_loading_percent": "loading of the transformer feeding the substation's feeder",
    "dgi_grid_import_kw": "power the substation draws from the feeder, + = import",
}


def _gauge(name: str, value: float | None, labels: dict[str, str] | None = None) -> Metric | None:
    if value is None:
        return None
    family = GaugeMetricFamily(name, METRICS[name], labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), float(value))
    return family


class SnapshotCollector(Collector):
    """Yields the node's metrics from the snapshot ``latest()`` returns (none before the first);
    ``ready()`` tells whether the node is ready now."""

    def __init__(
        self, latest: Callable[[], Snapshot | None], ready: Callable[[], bool] | None = None
    ) -> None:
        self.latest = latest
        self.ready = ready

    def collect(self) -> Iterator[Metric]:
        snapshot = self.latest()
        if snapshot is None:
            return
        if self.ready is not None:
            yield from (g for g in [_gauge("dgi_ready", 1.0 if self.ready() else 0.0)] if g)
        yield from _lb(snapshot)
        yield from _gm(snapshot)
        yield from _sc(snapshot)
        yield from _peers_and_rounds(snapshot)
        yield from _devices(snapshot)
        yield from _substation(snapshot)
        yield from _grid(snapshot)

    def describe(self) -> Iterator[Metric]:
        return iter(())


def _lb(s: Snapshot) -> Iterator[Metric]:
    state = GaugeMetricFamily("dgi_lb_state", METRICS["dgi_lb_state"], labels=["state"])
    for name in STATES:
        state.add_metric([name], 1.0 if s.state == name else 0.0)
    yield state
    for name, value in (
        ("dgi_gateway_kw", s.gateway),
        ("dgi_net_generation_kw", s.net_generation),
        ("dgi_predicted_gateway_kw", s.predicted_gateway),
        ("dgi_pstar_kw", s.pstar),
        ("dgi_pstar_commanded_kw", s.commanded),
        ("dgi_gross_power_flow_kw", s.k),
        ("dgi_group_residual_kw", s.residual),
    ):
        gauge = _gauge(name, value)
        if gauge is not None:
            yield gauge
    migrations = CounterMetricFamily(
        "dgi_migrations", METRICS["dgi_migrations_total"], labels=["direction", "outcome"]
    )
    for direction, outcome, n in s.migration_outcomes:
        migrations.add_metric([direction, outcome], n)
    yield migrations
    yield _histogram("dgi_migration_latency_seconds", s.histograms.migration_latency_seconds)
    duplicates = len(s.duplicates.peers) + (1 if s.duplicates.this_node else 0)
    yield from (g for g in (
        _gauge("dgi_group_size", len(s.group)),
        _gauge("dgi_is_leader", 1.0 if s.leader == s.node else 0.0),
        _gauge("dgi_enabled", 1.0 if s.enabled and s.dgi_enable is not False else 0.0),
        _gauge("dgi_released", 1.0 if s.released else 0.0),
        _gauge("dgi_command_disagreement", 0.0 if s.disagreement is None else 1.0),
        _gauge("dgi_duplicate_node_ids", float(duplicates)),
    ) if g is not None)  # fmt: skip


def _histogram(name: str, data: Histogram) -> Metric:
    buckets = [(str(le), n) for le, n in data.buckets] + [("+Inf", data.count)]
    return HistogramMetricFamily(name, METRICS[name], buckets=buckets, sum_value=data.sum)


def _gm(s: Snapshot) -> Iterator[Metric]:
    if s.gm is None:
        return
    yield from _counters(
        ("dgi_gm_elections", s.gm.elections), ("dgi_gm_recoveries", s.gm.recoveries)
    )


def _sc(s: Snapshot) -> Iterator[Metric]:
    sc = s.state_collection
    if sc.last is not None:
        yield from (g for g in (
            _gauge("dgi_sc_duration_seconds", sc.last.took_ms / 1000),
            _gauge("dgi_sc_collected_nodes", len(sc.last.answered)),
            _gauge("dgi_sc_missing_nodes", len(sc.last.missing)),
        ) if g is not None)  # fmt: skip
    yield from _counters(
        ("dgi_sc_collections", sc.collections),
        ("dgi_sc_partial", sc.partial),
        ("dgi_lb_rounds_lost", sc.rounds_lost),
    )


def _counters(*pairs: tuple[str, float]) -> Iterator[Metric]:
    """One unlabelled counter per (name without ``_total``, value)."""
    for name, value in pairs:
        counter = CounterMetricFamily(name, METRICS[name + "_total"])
        counter.add_metric([], value)
        yield counter


def _peers_and_rounds(s: Snapshot) -> Iterator[Metric]:
    yield _histogram("dgi_round_duration_seconds", s.histograms.round_duration_seconds)
    counters = s.counters
    yield from _counters(
        ("dgi_round_overruns", counters.round_overruns),
        ("dgi_rounds", counters.rounds),
        ("dgi_command_disagreements", counters.command_disagreements),
        ("dgi_failsafe_releases", counters.failsafe_releases),
        ("dgi_actuator_write_errors", counters.write_errors),
    )
    datagrams = CounterMetricFamily(
        "dgi_peer_datagrams", METRICS["dgi_peer_datagrams_total"], labels=["type", "result"]
    )
    for type_, result, n in s.datagrams:
        datagrams.add_metric([type_, result], n)
    yield datagrams


def _devices(s: Snapshot) -> Iterator[Metric]:
    value = GaugeMetricFamily(
        "dgi_device_value",
        METRICS["dgi_device_value"],
        labels=["device", "signal", "point", "unit"],
    )
    last = GaugeMetricFamily(
        "dgi_device_last_read_timestamp_seconds",
        METRICS["dgi_device_last_read_timestamp_seconds"],
        labels=["device"],
    )
    stale = GaugeMetricFamily(
        "dgi_device_stale", METRICS["dgi_device_stale"], labels=["device", "type"]
    )
    errors = CounterMetricFamily(
        "dgi_device_errors", METRICS["dgi_device_errors_total"], labels=["device"]
    )
    for device in s.devices:
        for point in device.points:
            if point.value is not None:
                value.add_metric([device.id, point.signal, point.name, point.unit], point.value)
        if device.last_read is not None:
            last.add_metric([device.id], device.last_read)
        stale.add_metric([device.id, device.type], 1.0 if device.stale else 0.0)
        errors.add_metric([device.id], device.errors)
    yield from (value, last, stale, errors)


def _substation(s: Snapshot) -> Iterator[Metric]:
    sub = s.substation
    yield from (g for g in (
        _gauge("dgi_substation_load_kw", sub.load_kw),
        _gauge("dgi_substation_capacity_kw", sub.capacity_kw),
        _gauge("substation_current_load", sub.charging_sessions),
        _gauge("dgi_ev_capacity_kw", sub.ev_capacity_kw),
        _gauge("dgi_ev_booked_kw", sub.ev_booked_kw),
    ) if g is not None)  # fmt: skip
    requests = CounterMetricFamily(
        "dgi_charge_requests", METRICS["dgi_charge_requests_total"], labels=["result"]
    )
    for result in ("booked", "full", "invalid"):
        requests.add_metric([result], sub.charge_answers.get(result, 0))
    yield requests
    for name, value in (
        ("dgi_ev_sessions", sub.ev_sessions_total),
        ("dgi_ev_refused", sub.ev_refused_total),
    ):
        counter = CounterMetricFamily(name, METRICS[f"{name}_total"])
        counter.add_metric([], value)
        yield counter


def _grid(s: Snapshot) -> Iterator[Metric]:
    """The grid meter's values; no sample at all while one is unknown (no meter, a stale one,
    a power flow that did not converge), never a 0 that looks like a measurement."""
    grid = s.grid
    yield from (g for g in (
        _gauge("dgi_bus_voltage_pu", grid.voltage_pu),
        _gauge("dgi_line_loading_percent", grid.loading_percent),
        _gauge("dgi_trafo_loading_percent", grid.trafo_loading_percent),
        _gauge("dgi_grid_import_kw", grid.grid_import_kw),
    ) if g is not None)  # fmt: skip


Registry = CollectorRegistry


def new_registry() -> Registry:
    """A fresh registry (one per API app, so tests and nodes never share metrics)."""
    return CollectorRegistry()


def exposition(registry: Registry) -> tuple[bytes, str]:
    """The text format Prometheus scrapes."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
