"""The pure modules import no I/O, clocks or adapted libraries.

See docs/architecture.md, "Pure cores and the runtime" and "Packages and their dependencies".
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Every module of these packages is pure, and new ones are by being there.
PURE_PACKAGES = [
    "controller/core",
    "controller/lb",
    "controller/gm",
    "controller/sc",
    "controller/ev",
    "config/freedm",
]
PURE = sorted(
    {str(p.relative_to(ROOT)) for d in PURE_PACKAGES for p in (ROOT / d).glob("*.py")}
    | {
        "config/addresses.py",
        "config/device_types.py",
        "config/xmltree.py",
        "config/errors.py",
        "config/profile.py",
        "config/schema.py",
        "config/settings.py",
        "config/simulation.py",
        "config/site.py",
        "device_drivers/codec.py",
        "device_drivers/ocpp_state.py",
        "device_drivers/planning.py",
        "hil/cells.py",
        "hil/config.py",
        "hil/protocols.py",
        "hil/xmlconfig.py",
        "simulators/plant.py",
        "simulators/faults.py",
        "controller/api/readiness.py",
        "controller/api/grid.py",
        "controller/peer/posted.py",
        "controller/peer/replay.py",
        "controller/peer/wire.py",
        "controller/sim/charts.py",
        "controller/sim/record.py",
        "controller/virtual/group.py",
        "controller/virtual/substation.py",
        "controller/sim/events.py",
        "controller/catalogue.py",
        "controller/cosim/external.py",
        "controller/cosim/mosaik_model.py",
        "controller/cosim/mosaik_nodes.py",
        "controller/cosim/mosaik_plant.py",
        "controller/cosim/federated_nodes.py",
        "controller/cosim/helics_plan.py",
        "controller/assembly.py",
        "controller/loadtest/plan.py",
        "controller/loadtest/stats.py",
    }
)
FORBIDDEN = {
    "asyncio",
    "socket",
    "time",
    "pymodbus",
    "fastapi",
    "apscheduler",
    "uvicorn",
    "h11",
    "serial",
    "httpx",
    "ocpp",
    "websockets",
}


def strict_modules() -> list[str]:
    """The module patterns mypy checks strictly (pyproject.toml)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found: list[str] = []
    for override in config["tool"]["mypy"]["overrides"]:
        if override.get("strict"):
            found += override["module"]
    return found


@pytest.mark.parametrize("module", PURE)
def test_pure_module_is_checked_strictly(module: str) -> None:
    dotted = module.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    patterns = strict_modules()
    assert any(dotted == p or (p.endswith(".*") and dotted.startswith(p[:-1])) for p in patterns), (
        f"{dotted} is pure: list it under mypy strict in pyproject.toml"
    )


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", PURE)
def test_pure_module_has_no_io_imports(module: str) -> None:
    assert not imported_roots(ROOT / module) & FORBIDDEN


def test_config_imports_nothing_of_ours() -> None:
    for path in (ROOT / "config").glob("*.py"):
        ours = imported_roots(path) & {"controller", "device_drivers", "simulators", "hil"}
        assert not ours, f"{path.name} imports {ours}"


@pytest.mark.parametrize("package", ["config", "device_drivers", "simulators", "hil"])
def test_nothing_imports_controller(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        assert "controller" not in imported_roots(path), path


ADAPTERS = {
    "pymodbus": {"device_drivers/modbus.py", "simulators/modbus_server.py"},
    "h11": {"controller/api/server.py"},
    "msgpack": {"controller/peer/envelope.py"},
    "apscheduler": {"controller/node/scheduler.py"},
    "fastapi": {"controller/api/app.py"},
    "uvicorn": {"controller/api/server.py"},
    "prometheus_client": {"controller/api/metrics.py"},
    "matplotlib": {"controller/loadtest/plot.py", "controller/sim/plots.py"},
    "ocpp": {"device_drivers/ocpp.py", "simulators/charge_point.py"},
    "websockets": {"device_drivers/ocpp.py", "simulators/charge_point.py"},
    "sunspec2": {"config/sunspec.py"},
    "mosaik_api_v3": {"controller/cosim/mosaik_sims.py"},
    "mosaik": set(),  # scenarios/mosaik/ only
    "mosaik_csv": set(),
}


@pytest.mark.parametrize("library", sorted(ADAPTERS))
def test_each_library_stays_in_its_adapter(library: str) -> None:
    for package in ("config", "device_drivers", "simulators", "hil", "controller"):
        for path in (ROOT / package).rglob("*.py"):
            if library in imported_roots(path):
                assert str(path.relative_to(ROOT)) in ADAPTERS[library], path
