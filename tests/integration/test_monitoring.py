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
    "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "time",
}  # fmt: skip


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
        "Group residual",
    ):  # fmt: skip
        assert title in titles


def test_grafana_provisioning_points_at_the_datasource_the_dashboard_uses() -> None:
    provisioning = ROOT / "monitoring" / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert sources[0]["type"] == "prometheus"
    providers = yaml.safe_load((provisioning / "dashboards" / "dgi.yml").read_text())["providers"]
    assert providers[0]["type"] == "file"
