"""The pure modules import no I/O, clocks or adapted libraries.

See docs/architecture.md, "Pure cores and the runtime" and "Packages and their dependencies".
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE = [
    "config/addresses.py",
    "config/device_types.py",
    "config/errors.py",
    "config/profile.py",
    "config/schema.py",
    "config/settings.py",
    "config/simulation.py",
    "config/site.py",
    "device_drivers/codec.py",
    "device_drivers/planning.py",
    "simulators/plant.py",
    "simulators/faults.py",
    "controller/core/audit.py",
    "controller/core/messages.py",
    "controller/core/effects.py",
    "controller/core/readings.py",
    "controller/core/phases.py",
    "controller/core/node_core.py",
    "controller/core/convergence.py",
    "controller/core/health.py",
    "controller/core/stats.py",
    "controller/api/readiness.py",
    "controller/lb/base.py",
    "controller/lb/core.py",
    "controller/lb/demand.py",
    "controller/lb/ledger.py",
    "controller/lb/load_table.py",
    "controller/lb/rules.py",
    "controller/lb/settings.py",
    "controller/lb/supply.py",
    "controller/lb/transactions.py",
    "controller/peer/replay.py",
    "controller/peer/wire.py",
    "controller/virtual/group.py",
]
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
}


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
}


@pytest.mark.parametrize("library", sorted(ADAPTERS))
def test_each_library_stays_in_its_adapter(library: str) -> None:
    for package in ("config", "device_drivers", "simulators", "hil", "controller"):
        for path in (ROOT / package).rglob("*.py"):
            if library in imported_roots(path):
                assert str(path.relative_to(ROOT)) in ADAPTERS[library], path
