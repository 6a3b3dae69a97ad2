"""The pandapower plant: the substations on a real feeder, solved by an AC power flow.

The only module that imports pandapower (lazily, inside functions: ``dgi`` starts without
it). A :class:`Grid` is a pandapower network — ``[grid] network`` — with each node's
devices added as elements at the node's bus, all in the network's units (MW) times
``kw_scale`` (network kW per device kW):

* Load drain and Evse power → a ``load``; Drer generation → an ``sgen``;
* Desd storage → a ``storage`` (pandapower's load convention, + = charging: ``p = -storage``,
  as our storage > 0 discharges);
* the SST → a controllable ``sgen`` with ``p = -gateway``: the SST takes ``gateway`` from
  the feeder and exports it to the shared bus (FREEDM's backbone), so the substation's
  draw from the feeder at its bus is ``drain + EV - generation - storage + gateway`` —
  the simple plant's ``grid_import = gateway - net generation``.

:meth:`Grid.solve` writes the substations' values into the elements, runs
``runpp(init="results")`` (``init="auto"`` after a failure) and gives each node its bus's
voltage (pu), the highest loading of the lines at the bus (%), the loading of the
transformer feeding the bus's feeder (%) and the grid import (kW, device scale). A power
flow that does not converge raises :class:`~simulators.plant.GridFault` (the plant then
clears its meters: a plant fault, never a crash); it is logged once per episode.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.grid import NetworkInfo, bus_map, network_path
from config.settings import GridSettings
from simulators.plant import GridFault, SubstationView

log = logging.getLogger(__name__)

MISSING = "the pandapower plant needs the grid extra: pip install 'smartgrid-dgi[grid]'"


def _pandapower() -> Any:
    """pandapower, imported now (about 2.5 s), with its logger silenced."""
    logging.getLogger("pandapower").setLevel(logging.ERROR)
    try:
        import pandapower
        import pandapower.networks
        import pandapower.topology
    except ImportError as exc:
        raise RuntimeError(MISSING) from exc
    return pandapower


def load_network(network: str, site_dir: Path) -> Any:
    """A fresh pandapower network: a shipped one by name, or a JSON file."""
    pp = _pandapower()
    if network == "cigre-mv":
        return pp.networks.create_cigre_network_mv(with_der="all")
    if network == "mv-oberrhein":
        return pp.networks.mv_oberrhein()
    path = network_path(network, site_dir)
    assert path is not None
    return pp.from_json(str(path))


def network_info_of(net: Any) -> NetworkInfo:
    return NetworkInfo(
        {int(i): str(n) if isinstance(n, str) else str(i) for i, n in net.bus.name.items()},
        frozenset(int(b) for b in net.ext_grid.bus),
        frozenset(int(b) for b in net.trafo.hv_bus),
    )


def builtin_networks_table() -> dict[str, object]:
    """The bus tables of the shipped networks (``config/networks.json``)."""
    table: dict[str, object] = {}
    for name in ("cigre-mv", "mv-oberrhein"):
        info = network_info_of(load_network(name, Path(".")))
        table[name] = {
            "buses": [[i, n] for i, n in info.buses.items()],
            "slack": sorted(info.slack),
            "hv": sorted(info.hv),
        }
    return table


@dataclass(frozen=True)
class Figures:
    """Network-wide results of a power flow, for logs and the benchmark."""

    min_vm_pu: float
    max_vm_pu: float
    max_line_loading: float
    max_trafo_loading: float
    ext_grid_mw: float  # + = import from the upstream grid

    def __str__(self) -> str:
        return (
            f"vm {self.min_vm_pu:.3f}..{self.max_vm_pu:.3f} pu, lines up to "
            f"{self.max_line_loading:.0f} %, trafos up to {self.max_trafo_loading:.0f} %, "
            f"external grid {self.ext_grid_mw:.1f} MW"
        )


@dataclass
class _Elements:
    """A node's elements in the network (indices into its tables)."""

    bus: int
    load: int
    sgen: int
    storage: int
    sst: int
    lines: list[int] = field(default_factory=list)
    trafo: int | None = None


class Grid:
    """A network with the site's substations on it; :meth:`solve` runs the power flow."""

    def __init__(
        self, net: Any, buses: Mapping[str, int], *, kw_scale: float, load_scale: float
    ) -> None:
        self.pp = _pandapower()
        self.net = net
        self.kw_scale = kw_scale
        net.load["scaling"] = net.load["scaling"] * load_scale
        net.sgen["scaling"] = net.sgen["scaling"] * load_scale
        feeders = self._feeders()
        self.nodes: dict[str, _Elements] = {}
        for node, bus in buses.items():
            pp = self.pp
            lines = net.line.index[
                ((net.line.from_bus == bus) | (net.line.to_bus == bus)) & net.line.in_service
            ]
            self.nodes[node] = _Elements(
                bus=bus,
                load=pp.create_load(net, bus, p_mw=0.0, name=f"{node} load"),
                sgen=pp.create_sgen(net, bus, p_mw=0.0, name=f"{node} generation"),
                storage=pp.create_storage(
                    net, bus, p_mw=0.0, max_e_mwh=1.0, soc_percent=50.0, name=f"{node} storage"
                ),
                sst=pp.create_sgen(
                    net, bus, p_mw=0.0, name=f"{node} SST", type="SST", controllable=True
                ),
                lines=[int(i) for i in lines],
                trafo=feeders.get(bus),
            )
        self.converged = False  # the last power flow's outcome (init="results" after one)
        self.failed_ticks = 0  # in the current non-convergence episode
        self.figures: Figures | None = None
        self.solve_s = 0.0  # the last power flow's wall time

    def _feeders(self) -> dict[int, int]:
        """Each bus's feeding transformer: the one whose low-voltage side is in the bus's
        part of the network without transformers (open switches respected)."""
        graph = self.pp.topology.create_nxgraph(self.net, include_trafos=False)
        feeders: dict[int, int] = {}
        for trafo, lv_bus in self.net.trafo.lv_bus.items():
            if self.net.trafo.in_service.at[trafo] and lv_bus in graph:
                for bus in self.pp.topology.connected_component(graph, lv_bus):
                    feeders.setdefault(int(bus), int(trafo))
        return feeders

    def _write(self, substations: Mapping[str, SubstationView]) -> None:
        mw = self.kw_scale / 1000.0
        net = self.net
        for node, e in self.nodes.items():
            view = substations.get(node)
            if view is None:
                view = SubstationView(node, 0.0, 0.0, 0.0, 0.0, 0.0)
            net.load.at[e.load, "p_mw"] = (view.drain + view.ev_power) * mw
            net.sgen.at[e.sgen, "p_mw"] = view.generation * mw
            net.storage.at[e.storage, "p_mw"] = -view.storage * mw
            net.sgen.at[e.sst, "p_mw"] = -view.gateway * mw

    def run(self) -> None:
        """One power flow of the network as it is; raises GridFault if it does not converge."""
        start = time.perf_counter()
        try:
            self.pp.runpp(
                self.net,
                init="results" if self.converged else "auto",
                numba=False,
                max_iteration=10,
            )
        except Exception as exc:  # LoadflowNotConverged, or a numerical failure on the way
            self.solve_s = time.perf_counter() - start
            self.converged = False
            self.failed_ticks += 1
            reason = f"power flow did not converge: {exc}"
            if self.failed_ticks == 1:
                log.warning("%s (%s; last converged: %s)", reason, self._demand(), self.figures)
            raise GridFault(reason) from exc
        self.solve_s = time.perf_counter() - start
        if self.failed_ticks:
            log.warning("power flow converges again after %d failed tick(s)", self.failed_ticks)
        self.converged = True
        self.failed_ticks = 0
        self.figures = self._figures()

    def solve(self, substations: Mapping[str, SubstationView]) -> dict[str, dict[str, float]]:
        """Each node's meter values after a power flow of ``substations``."""
        self._write(substations)
        self.run()
        return {node: self._meter(e) for node, e in self.nodes.items()}

    def _meter(self, e: _Elements) -> dict[str, float]:
        net = self.net
        loadings = [float(net.res_line.loading_percent.at[i]) for i in e.lines]
        if e.trafo is not None:
            trafo = float(net.res_trafo.loading_percent.at[e.trafo])
        else:  # no transformer feeds its part of the network: the network's highest
            trafo = self.figures.max_trafo_loading if self.figures is not None else 0.0
        feeder_mw = (
            float(net.res_load.p_mw.at[e.load])
            + float(net.res_storage.p_mw.at[e.storage])
            - float(net.res_sgen.p_mw.at[e.sgen])
            - float(net.res_sgen.p_mw.at[e.sst])
        )
        return {
            "voltage": float(net.res_bus.vm_pu.at[e.bus]),
            "loading": max(loadings, default=0.0),
            "trafo_loading": trafo,
            "grid_import": feeder_mw * 1000.0 / self.kw_scale,
        }

    def _figures(self) -> Figures:
        net = self.net

        def most(values: Any, default: float = 0.0) -> float:
            found = [float(v) for v in values if not math.isnan(v)]
            return max(found, default=default)

        vm = [float(v) for v in net.res_bus.vm_pu if not math.isnan(v)]
        return Figures(
            min_vm_pu=min(vm, default=math.nan),
            max_vm_pu=max(vm, default=math.nan),
            max_line_loading=most(net.res_line.loading_percent),
            max_trafo_loading=most(net.res_trafo.loading_percent),
            ext_grid_mw=float(net.res_ext_grid.p_mw.sum()),
        )

    def _demand(self) -> str:
        net = self.net
        loads = float((net.load.p_mw * net.load.scaling)[net.load.in_service].sum())
        ours = sum(float(net.load.p_mw.at[e.load]) for e in self.nodes.values())
        return f"loads {loads:.1f} MW, of them the substations' {ours:.1f} MW"


def build_grid(settings: GridSettings, nodes: list[str], site_dir: Path) -> Grid:
    """The grid of a site's ``[grid]`` table, with ``nodes`` on it."""
    net = load_network(settings.network, site_dir)
    buses = bus_map(network_info_of(net), nodes, settings.buses)
    return Grid(net, buses, kw_scale=settings.kw_scale, load_scale=settings.load_scale)


if __name__ == "__main__":  # regenerate config/networks.json
    import json

    from config.grid import NETWORKS_FILE

    NETWORKS_FILE.write_text(json.dumps(builtin_networks_table(), separators=(",", ":")) + "\n")
