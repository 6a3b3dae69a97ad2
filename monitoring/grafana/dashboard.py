"""Build monitoring/grafana/dashboard.json (run: python monitoring/grafana/dashboard.py).

The dashboard of the original EV-routing project — real-time load per substation, average and
peak load over the window, handled requests per substation — in the "EV charging" row, with
what it lacked: the power booked against the charging capacity, the balance of active sessions
(busiest − idlest), the answers each entry node gave and the refusals; then the load balancer
and the nodes' health; last the grid at each substation's bus (its grid meter: voltage
against the 0.95..1.05 pu band, line and transformer loading against 100 %). Counts "over the window" are ``increase``/``*_over_time`` over Grafana's
``$__range`` (instant queries), so they follow the time picker. A substation is judged by the
metrics its own node exports (``dgi_ev_sessions_total``, ``dgi_ev_refused_total``); an entry
node's answers by ``dgi_charge_requests_total{result}``, summed by ``node``. Every query filters
on the ``site`` and ``substation`` variables; tests check that each expression parses
(promtool) and names only metrics a node exports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("dashboard.json")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'site="$site", substation=~"$substation"'


def by_substation(expr: str) -> str:
    return f"sum by (substation) ({expr})"


def rate(metric: str, extra: str = "") -> str:
    return f"rate({metric}{{{SEL}{extra}}}[$__rate_interval])"


def quantile(q: float, metric: str) -> str:
    return f"histogram_quantile({q}, sum by (le, substation) ({rate(metric)}))"


LOAD = f"dgi_substation_load_kw{{{SEL}}}"
BOOKED = f"dgi_ev_booked_kw{{{SEL}}}"
SESSIONS = f"substation_current_load{{{SEL}}}"
ANSWERS = "sum by (node, result) (" + rate("dgi_charge_requests_total") + ")"
LB_STATE = (
    by_substation(f'dgi_lb_state{{{SEL}, state="supply"}}')
    + " - "
    + by_substation(f'dgi_lb_state{{{SEL}, state="demand"}}')
)
COMMITTED = ', outcome="committed"'
NOT_ACCEPTED = ', result!="accepted"'
MIGRATIONS = "sum by (substation, direction) (" + rate("dgi_migrations_total", COMMITTED) + ")"
DROPS = "sum by (substation, result) (" + rate("dgi_peer_datagrams_total", NOT_ACCEPTED) + ")"
STATES = {
    "type": "value",
    "options": {
        "1": {"text": "SUPPLY", "color": "green"},
        "0": {"text": "NORMAL", "color": "text"},
        "-1": {"text": "DEMAND", "color": "red"},
    },
}
DASHED_CAPACITIES = {
    "matcher": {"id": "byRegexp", "options": ".* capacity$"},
    "properties": [{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}}],
}
BOOKED_SHARE = {
    "unit": "percentunit",
    "min": 0,
    "max": 1.2,
    "thresholds": {
        "mode": "absolute",
        "steps": [
            {"color": "green", "value": None},
            {"color": "orange", "value": 0.9},
            {"color": "red", "value": 1.0},
        ],
    },
}
HORIZONTAL = {"options": {"orientation": "horizontal", "displayMode": "basic"}}


def thresholds(unit: str, steps: list[tuple[str, float | None]], **limits: float) -> dict[str, Any]:
    """Field defaults that draw the thresholds as dashed lines over the series."""
    return {"fieldConfig": {"defaults": {
        "unit": unit, **limits,
        "custom": {"thresholdsStyle": {"mode": "dashed"}},
        "thresholds": {"mode": "absolute",
                       "steps": [{"color": c, "value": v} for c, v in steps]},
    }, "overrides": []}}  # fmt: skip


#: The voltage band of a substation's bus (BusVoltageOutOfRange) and a line's rating (LineOverloaded).
VOLTAGE_BAND = thresholds("none", [("red", None), ("green", 0.95), ("red", 1.05)], decimals=3)
LOADING_LIMIT = thresholds("percent", [("green", None), ("orange", 90.0), ("red", 100.0)], min=0)

# (type, title, x, y, w, h, unit, [(expr, legend, instant)], description, extra)
PANELS: list[tuple[Any, ...]] = [
    ("row", "EV charging", 0, 0, 24, 1, "", [], "", {}),
    ("timeseries", "Real-time substation load", 0, 1, 12, 8, "kwatt",
     [(LOAD, "{{substation}} load", False),
      (BOOKED, "{{substation}} EV booked", False),
      (f"dgi_substation_capacity_kw{{{SEL}}}", "{{substation}} capacity", False),
      (f"dgi_ev_capacity_kw{{{SEL}}}", "{{substation}} charging capacity", False)],
     "Loads and EV chargers of each substation and the power its charging sessions were granted; "
     "dashed: the substation's capacity and its charging capacity",
     {"fieldConfig": {"defaults": {"unit": "kwatt"}, "overrides": [DASHED_CAPACITIES]}}),
    ("bargauge", "Average and peak load over the window", 12, 1, 6, 8, "kwatt",
     [(f"avg_over_time({LOAD}[$__range])", "{{substation}} average", True),
      (f"max_over_time({LOAD}[$__range])", "{{substation}} peak", True),
      (f"avg_over_time({BOOKED}[$__range])", "{{substation}} EV booked average", True),
      (f"max_over_time({BOOKED}[$__range])", "{{substation}} EV booked peak", True)],
     "Over the dashboard's time range", HORIZONTAL),
    ("bargauge", "Handled charging requests per substation", 18, 1, 6, 4, "none",
     [(by_substation(f"increase(dgi_ev_sessions_total{{{SEL}}}[$__range])"), "{{substation}}", True)],
     "Sessions each substation admitted over the dashboard's time range, whichever node the "
     "request entered by", HORIZONTAL),
    ("timeseries", "Active charging sessions", 18, 5, 6, 4, "none",
     [(SESSIONS, "{{substation}}", False),
      (f"max({SESSIONS}) - min({SESSIONS})", "busiest − idlest", False)],
     "substation_current_load; busiest − idlest stays at most 1 when sessions are alike and "
     "routing is fair", {}),
    ("timeseries", "Charging requests per second by answer", 0, 9, 12, 6, "reqps",
     [(ANSWERS, "{{node}} {{result}}", False)],
     "Per entry node: booked (201), full (503 with Retry-After: no substation could take it), "
     "invalid (4xx)", {}),
    ("bargauge", "Refused charging requests", 12, 9, 6, 6, "none",
     [(by_substation(f"increase(dgi_ev_refused_total{{{SEL}}}[$__range])"),
       "{{substation}} refused an admission", True),
      (f'sum by (node) (increase(dgi_charge_requests_total{{{SEL}, result="full"}}[$__range]))',
       "{{node}} answered full", True)],
     "Over the dashboard's time range. A full substation refuses and the entry node tries the "
     "next; the client is turned away (503) only when none can take it", HORIZONTAL),
    ("bargauge", "Charging capacity booked", 18, 9, 6, 6, "percentunit",
     [(f"{BOOKED} / dgi_ev_capacity_kw{{{SEL}}}", "{{substation}}", True)],
     "Granted kW of the active sessions over the charging capacity; above 100 % the EVOverload "
     "alert fires", {**HORIZONTAL, "fieldConfig": {"defaults": BOOKED_SHARE, "overrides": []}}),
    ("row", "Load balancing", 0, 15, 24, 1, "", [], "", {}),
    ("state-timeline", "Load-balancer state", 0, 16, 12, 6, "none",
     [(LB_STATE, "{{substation}}", False)], "SUPPLY, NORMAL or DEMAND over time",
     {"fieldConfig": {"defaults": {"unit": "none", "mappings": [STATES]}, "overrides": []}}),
    ("timeseries", "Gateway G, PStar held and commanded", 12, 16, 12, 8, "kwatt",
     [(f"dgi_gateway_kw{{{SEL}}}", "{{substation}} G", False),
      (f"dgi_pstar_kw{{{SEL}}}", "{{substation}} PStar held", False),
      (f"dgi_pstar_commanded_kw{{{SEL}}}", "{{substation}} PStar commanded", False)],
     "Measured gateway; the setpoint the actuator holds (read back) and the one the node commands",
     {}),
    ("timeseries", "Net generation NG and gateway G", 0, 22, 12, 8, "kwatt",
     [(f"dgi_net_generation_kw{{{SEL}}}", "{{substation}} NG", False),
      (f"dgi_gateway_kw{{{SEL}}}", "{{substation}} G", False)],
     "Balanced when every gateway equals its net generation", {}),
    ("timeseries", "Migrations per second", 12, 24, 6, 6, "ops",
     [(MIGRATIONS, "{{substation}} {{direction}}", False)], "", {}),
    ("timeseries", "Gross power flow K", 18, 24, 6, 6, "kwatt",
     [(f"dgi_gross_power_flow_kw{{{SEL}}}", "{{substation}}", False)],
     "What the bus slack carries, as each node last synchronised", {}),
    ("timeseries", "Bus frequency", 0, 30, 8, 6, "none",
     [(f'dgi_device_value{{{SEL}, signal="frequency"}}', "{{substation}} {{device}}", False)],
     "Omega devices (rad/s)", {}),
    ("row", "Health", 0, 36, 24, 1, "", [], "", {}),
    ("timeseries", "Dropped datagrams per second", 0, 37, 8, 6, "pps",
     [(DROPS, "{{substation}} {{result}}", False)],
     "By reason: bad_mac, unknown_key, replay, expired, bad_epoch, duplicate_id, malformed, "
     "not_member, invalid, misdirected",
     {}),
    ("timeseries", "LB round duration p99", 8, 37, 8, 6, "s",
     [(quantile(0.99, "dgi_round_duration_seconds_bucket"), "{{substation}}", False)], "", {}),
    ("timeseries", "Migration latency p50", 16, 37, 8, 6, "s",
     [(quantile(0.5, "dgi_migration_latency_seconds_bucket"), "{{substation}}", False)], "", {}),
    ("stat", "Stale devices", 0, 43, 8, 4, "none",
     [(by_substation(f"dgi_device_stale{{{SEL}}}"), "{{substation}}", False)], "", {}),
    ("stat", "Nodes up", 8, 43, 8, 4, "none",
     [(f'up{{job="dgi", {SEL}}}', "{{substation}}", False)], "", {}),
    ("stat", "Round overruns (1 h)", 16, 43, 8, 4, "none",
     [(by_substation(f"increase(dgi_round_overruns_total{{{SEL}}}[1h])"), "{{substation}}", False)],
     "", {}),
    ("stat", "Actuators not holding the command", 0, 47, 6, 4, "none",
     [(by_substation(f"dgi_command_disagreement{{{SEL}}}"), "{{substation}}", False)],
     "1 while a device holds another setpoint than its node commanded", {}),
    ("stat", "Ready nodes", 6, 47, 6, 4, "none",
     [(by_substation(f"dgi_ready{{{SEL}}}"), "{{substation}}", False)], "/readyz says 200", {}),
    ("timeseries", "Group residual", 12, 47, 6, 4, "kwatt",
     [(f"dgi_group_residual_kw{{{SEL}}}", "{{substation}}", False)],
     "Σ (NG − PG) over the group: what migrations cannot balance", {}),
    ("stat", "Failsafe releases (1 h)", 18, 47, 6, 4, "none",
     [(by_substation(f"increase(dgi_failsafe_releases_total{{{SEL}}}[1h])"), "{{substation}}", False)],
     "", {}),
    ("row", "Grid", 0, 51, 24, 1, "", [], "", {}),
    ("timeseries", "Bus voltage", 0, 52, 12, 8, "none",
     [(f"dgi_bus_voltage_pu{{{SEL}}}", "{{substation}}", False)],
     "Voltage at each substation's bus (pu), from its grid meter; dashed: the 0.95..1.05 pu "
     "band (BusVoltageOutOfRange). No line while a node has no fresh meter", VOLTAGE_BAND),
    ("timeseries", "Line loading", 12, 52, 12, 8, "percent",
     [(f"dgi_line_loading_percent{{{SEL}}}", "{{substation}} lines", False),
      (f"dgi_trafo_loading_percent{{{SEL}}}", "{{substation}} transformer", False)],
     "The highest loading of the lines at each substation's bus and of the transformer feeding "
     "the feeder, % of their rating; dashed: 100 % (LineOverloaded)", LOADING_LIMIT),
    ("timeseries", "Import from the feeder", 0, 60, 12, 6, "kwatt",
     [(f"dgi_grid_import_kw{{{SEL}}}", "{{substation}}", False)],
     "What each substation draws from the feeder at its bus (+ = import), from its grid meter",
     {}),
]  # fmt: skip


def panel(number: int, spec: tuple[Any, ...]) -> dict[str, Any]:
    kind, title, x, y, w, h, unit, queries, description, extra = spec
    grid = {"x": x, "y": y, "w": w, "h": h}
    body: dict[str, Any] = {"id": number, "type": kind, "title": title, "gridPos": grid}
    if kind == "row":
        return {**body, "collapsed": False, "panels": []}
    targets = []
    for ref, (expr, legend, instant) in zip("ABCDEFGH", queries, strict=False):
        target = {"refId": ref, "expr": expr, "legendFormat": legend, "datasource": DATASOURCE}
        targets.append({**target, "instant": True, "range": False} if instant else target)
    body.update(
        description=description,
        datasource=DATASOURCE,
        fieldConfig={"defaults": {"unit": unit}, "overrides": []},
        options={"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        targets=targets,
    )
    body.update(extra)
    return body


def variables() -> list[dict[str, Any]]:
    query = {"datasource": DATASOURCE, "refresh": 2, "includeAll": False, "multi": False}
    site = {"query": "label_values(dgi_gateway_kw, site)", "refId": "site"}
    by_site = 'label_values(dgi_gateway_kw{site="$site"}, substation)'
    substation = {"query": by_site, "refId": "substation"}
    return [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
        {**query, "name": "site", "type": "query", "label": "Site", "query": site},
        {**query, "name": "substation", "type": "query", "label": "Substation", "query": substation,
         "multi": True, "includeAll": True, "allValue": ".*"},
    ]  # fmt: skip


def dashboard() -> dict[str, Any]:
    return {
        "title": "smartgrid-dgi",
        "uid": "smartgrid-dgi",
        "description": "Substation load, EV charging, the FREEDM load balancer and the grid",
        "tags": ["smartgrid-dgi"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "5s",
        "time": {"from": "now-15m", "to": "now"},
        "timezone": "browser",
        "templating": {"list": variables()},
        "panels": [panel(n, spec) for n, spec in enumerate(PANELS, start=1)],
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
