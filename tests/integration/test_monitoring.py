"""Monitoring files: rules and their unit tests, the scrape configuration, the dashboard."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from controller.api.metrics import METRICS
from tests.conftest import ROOT, require_tool

PROMETHEUS_DIR = ROOT / "monitoring" / "prometheus"
DASHBOARD = ROOT / "monitoring" / "grafana" / "dashboard.json"
GRAFANA_VARIABLES = {
    "$__range": "1h",
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$site": "lab",
    "$substation": ".*",
}
FUNCTIONS_AND_KEYWORDS = {
    "sum", "by", "without", "rate", "increase", "avg_over_time", "max_over_time", "histogram_quantile",
    "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "time", "max", "min",
    "label_replace",
}  # fmt: skip
# The EV charging metrics the dashboard and the rules read.
EV_METRICS = {
    "dgi_ev_capacity_kw",
    "dgi_ev_booked_kw",
    "dgi_ev_sessions_total",
    "dgi_ev_refused_total",
}


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def rule_expressions() -> list[str]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (strings, label matchers, ranges and groupings removed)."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text))
    return {n for n in names if n not in FUNCTIONS_AND_KEYWORDS}


def known(name: str) -> bool:
    recorded = {"substation:load_ratio"}
    return (
        name in METRICS
        or name in recorded
        or name == "up"
        or name.removesuffix("_bucket") in METRICS
    )


def test_rules_are_valid_and_their_unit_tests_pass() -> None:
    checked = promtool("check", "rules", "rules.yml", cwd=PROMETHEUS_DIR)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "rules_test.yml", cwd=PROMETHEUS_DIR)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_the_issue_asks_for_has_a_unit_test() -> None:
    groups = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())["groups"]
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    assert alerts == {
        "SubstationOverload",
        "DeviceStale",
        "RoundOverruns",
        "GroupSplit",
        "PeerAuthenticationFailures",
        "NodeDown",
        "CommandDisagreement",
        "FailsafeRelease",
        "NodeNotReady",
        "DuplicateNodeId",
        "EVOverload",
        "ChargingRequestsRefused",
        "BusVoltageOutOfRange",
        "LineOverloaded",
    }
    tests = yaml.safe_load((PROMETHEUS_DIR / "rules_test.yml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    assert tested == alerts


def test_committed_scrape_configuration_is_generated_and_valid(tmp_path: Path) -> None:
    generated = subprocess.run(
        [sys.executable, "-m", "controller", "prometheus-config", "config/examples/three-substations.toml"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    ).stdout  # fmt: skip
    assert (PROMETHEUS_DIR / "prometheus.yml").read_text() == generated
    shutil.copy(PROMETHEUS_DIR / "rules.yml", tmp_path / "rules.yml")
    (tmp_path / "prometheus.yml").write_text(generated)
    checked = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load(generated)
    assert config["global"]["scrape_interval"] == "5s"
    targets = config["scrape_configs"][0]["static_configs"]
    assert [t["labels"]["node"] for t in targets] == ["sst1", "sst2", "sst3"]
    assert [t["targets"] for t in targets] == [
        ["127.0.0.1:8101"],
        ["127.0.0.1:8102"],
        ["127.0.0.1:8103"],
    ]


def test_committed_dashboard_is_the_generated_one() -> None:
    sys.path.insert(0, str(DASHBOARD.parent))
    try:
        import dashboard
    finally:
        sys.path.pop(0)
    assert DASHBOARD.read_text() == dashboard.render(), (
        "run: python monitoring/grafana/dashboard.py"
    )


def test_every_dashboard_expression_parses(tmp_path: Path) -> None:
    rules = []
    for n, expr in enumerate(dashboard_expressions()):
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:panel_{n}", "expr": expr})
    (tmp_path / "dashboard_rules.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    checked = promtool("check", "rules", "dashboard_rules.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert len(rules) >= 15


def seconds(duration: str) -> float:
    """A Prometheus duration of one unit (5s, 10s, 1m) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", duration)
    assert match, f"{duration!r}: not a duration of one unit"
    return int(match[1]) * units[match[2]]


def test_ev_overload_waits_longer_than_a_scrape_interval() -> None:
    """One sample above capacity must not fire: with rules evaluated once per scrape interval, a
    sample is seen by at most two evaluations one interval apart (three only if a scrape is late
    by a whole interval), so `for` must be at least two intervals; the annotation says which."""
    from controller.cli.monitoring_cmd import SCRAPE_INTERVAL

    groups = yaml.safe_load((PROMETHEUS_DIR / "rules.yml").read_text())["groups"]
    rule = next(r for g in groups for r in g["rules"] if r.get("alert") == "EVOverload")
    scrape_s = seconds(SCRAPE_INTERVAL)
    assert seconds(rule["for"]) >= 2 * scrape_s, rule["for"]
    description = rule["annotations"]["description"]
    assert f"for {seconds(rule['for']):g} s" in description
    assert f"longer than one scrape interval ({scrape_s:g} s)" in description


def test_the_ev_metrics_are_exported() -> None:
    assert sorted(EV_METRICS - METRICS.keys()) == []


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_expressions_name_only_metrics_a_node_exports(source: str) -> None:
    expressions = dashboard_expressions() if source == "dashboard" else rule_expressions()
    named = set().union(*(metric_names(e) for e in expressions))
    assert named, source
    assert all(known(name) for name in named), sorted(n for n in named if not known(n))


def test_dashboard_shows_what_the_original_did_and_the_balancer() -> None:
    titles = {p["title"] for p in json.loads(DASHBOARD.read_text())["panels"]}
    for title in (
        "Real-time substation load", "Average and peak load over the window", "Handled charging requests per substation",
        "Load-balancer state", "Gateway G, PStar held and commanded", "Migrations per second", "Gross power flow K",
        "Bus frequency", "Dropped datagrams per second", "Actuators not holding the command", "Ready nodes",
        "Group residual", "Bus voltage", "Line loading",
    ):  # fmt: skip
        assert title in titles


def test_the_ev_charging_row_shows_load_sessions_requests_and_refusals() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    rows = [n for n, p in enumerate(panels) if p["type"] == "row"]
    start = next(n for n in rows if panels[n]["title"] == "EV charging")
    end = min((n for n in rows if n > start), default=len(panels))
    row = panels[start + 1 : end]
    assert {p["title"] for p in row} == {
        "Real-time substation load",
        "Average and peak load over the window",
        "Handled charging requests per substation",
        "Active charging sessions",
        "Charging requests per second by answer",
        "Refused charging requests",
        "Charging capacity booked",
    }
    exprs = [t["expr"] for p in row for t in p["targets"]]
    read = set().union(*(metric_names(e) for e in exprs))
    assert EV_METRICS | {"dgi_substation_load_kw", "substation_current_load"} <= read
    assert 'result="full"' in " ".join(exprs)
    for over_the_window in ("avg_over_time(", "max_over_time(", "increase("):
        assert any(over_the_window in e and "[$__range]" in e for e in exprs), over_the_window
    for p in row:
        assert all(
            t["datasource"] == {"type": "prometheus", "uid": "${datasource}"} for t in p["targets"]
        )
        assert all('site="$site", substation=~"$substation"' in t["expr"] for t in p["targets"])


def test_grafana_provisioning_points_at_the_datasource_the_dashboard_uses() -> None:
    provisioning = ROOT / "monitoring" / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert sources[0]["type"] == "prometheus"
    providers = yaml.safe_load((provisioning / "dashboards" / "dgi.yml").read_text())["providers"]
    assert providers[0]["type"] == "file"


def panel_expr(title: str, legend: str) -> str:
    """A dashboard query by its panel's title and its legend."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    (target,) = [
        t
        for p in panels
        if p["title"] == title
        for t in p["targets"]
        if t["legendFormat"] == legend
    ]
    return str(target["expr"])


# (panel, legend, at, expected samples) on the series of test_the_ev_queries_answer_...
EV_QUERIES: list[tuple[str, str, str, list[tuple[str, float]]]] = [
    ("Active charging sessions", "busiest − idlest", "10m", [("{}", 2)]),
    ("Charging capacity booked", "{{substation}}", "10m",
     [('{site="lab", node="sst1", substation="sst1"}', 0.5),
      ('{site="lab", node="sst2", substation="sst2"}', 0.75)]),
    ("Handled charging requests per substation", "{{substation}}", "10m",
     [('{substation="sst1"}', 10), ('{substation="sst2"}', 5)]),
    ("Refused charging requests", "{{substation}} refused an admission", "10m",
     [('{substation="sst1"}', 0), ('{substation="sst2"}', 3)]),
    ("Refused charging requests", "{{node}} answered full", "10m",
     [('{node="sst1"}', 5), ('{node="sst2"}', 0)]),
    ("Charging requests per second by answer", "{{node}} {{result}}", "10m",
     [('{node="sst1", result="booked"}', 10 / 60), ('{node="sst1", result="full"}', 1 / 60),
      ('{node="sst2", result="booked"}', 5 / 60), ('{node="sst2", result="full"}', 0)]),
    ("Average and peak load over the window", "{{substation}} peak", "10m",
     [('{site="lab", node="sst1", substation="sst1"}', 50),
      ('{site="lab", node="sst2", substation="sst2"}', 30)]),
    ("Average and peak load over the window", "{{substation}} EV booked average", "10m",
     [('{site="lab", node="sst1", substation="sst1"}', 22),
      ('{site="lab", node="sst2", substation="sst2"}', 33)]),
]  # fmt: skip


def test_the_ev_queries_answer_what_their_legends_say(tmp_path: Path) -> None:
    """promtool evaluates the EV row's queries on two substations of site "lab" (one minute per
    sample, a 5-minute window) and a third of another site that the site variable leaves out."""
    variables = {"$__range": "5m", "$__rate_interval": "1m", "$site": "lab", "$substation": ".*"}
    series = {
        "substation_current_load": ("3x10", "1x10", "9x10"),
        "dgi_ev_booked_kw": ("22x10", "33x10", "99x10"),
        "dgi_ev_capacity_kw": ("44x10", "44x10", "1x10"),
        "dgi_substation_load_kw": ("40x6 50 40x3", "30x10", "99x10"),
        "dgi_ev_sessions_total": ("0+2x10", "0+1x10", "0+9x10"),
        "dgi_ev_refused_total": ("0x10", "0x7 1 2 3", "0+9x10"),
        'dgi_charge_requests_total{result="booked"': ("0+10x10", "0+5x10", "0+9x10"),
        'dgi_charge_requests_total{result="full"': ("0+1x10", "0x10", "0+9x10"),
    }
    where = ('site="lab", node="sst1", substation="sst1"', 'site="lab", node="sst2", substation="sst2"',
             'site="other", node="x1", substation="x1"')  # fmt: skip
    input_series = []
    for name, values in series.items():
        selector = name + ", " if "{" in name else name + "{"
        for labels, value in zip(where, values, strict=True):
            input_series.append({"series": selector + labels + "}", "values": value})
    expr_tests = []
    for title, legend, at, samples in EV_QUERIES:
        expr = panel_expr(title, legend)
        for variable, value in variables.items():
            expr = expr.replace(variable, value)
        expected = [{"labels": labels, "value": value} for labels, value in samples]
        expr_tests.append({"expr": expr, "eval_time": at, "exp_samples": expected})
    (tmp_path / "none.yml").write_text("groups: []\n")
    test = {"name": "EV row", "interval": "1m", "input_series": input_series,
            "promql_expr_test": expr_tests}  # fmt: skip
    (tmp_path / "ev_test.yml").write_text(
        yaml.safe_dump({"rule_files": ["none.yml"], "tests": [test]}, allow_unicode=True)
    )
    tested = promtool("test", "rules", "ev_test.yml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_grid_row_draws_the_voltage_band_and_the_line_rating() -> None:
    """Voltage per substation against 0.95 and 1.05 pu, loading against 100 % (the alerts'
    limits), each read from the metric a node exports from its grid meter."""
    panels = {p["title"]: p for p in json.loads(DASHBOARD.read_text())["panels"]}

    def steps(title: str) -> list[float | None]:
        defaults = panels[title]["fieldConfig"]["defaults"]
        assert defaults["custom"]["thresholdsStyle"]["mode"] == "dashed"
        return [s["value"] for s in defaults["thresholds"]["steps"]]

    assert steps("Bus voltage") == [None, 0.95, 1.05]
    assert steps("Line loading")[-1] == 100.0
    assert panels["Bus voltage"]["fieldConfig"]["defaults"]["decimals"] == 3
    read = {
        title: set().union(*(metric_names(t["expr"]) for t in panels[title]["targets"]))
        for title in ("Bus voltage", "Line loading", "Import from the feeder")
    }
    assert read == {
        "Bus voltage": {"dgi_bus_voltage_pu"},
        "Line loading": {"dgi_line_loading_percent", "dgi_trafo_loading_percent"},
        "Import from the feeder": {"dgi_grid_import_kw"},
    }
