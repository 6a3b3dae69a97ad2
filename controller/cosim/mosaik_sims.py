"""A site's plant and its nodes as mosaik simulators (docs/cosim.md, "mosaik").

The only module that imports ``mosaik_api_v3`` (the ``cosim`` extra); nothing ``dgi``
loads at start imports it. Both simulators are time-based and take the site file as a
``sim_param``:

* :class:`PlantSim` — ``world.start("Plant", site=PATH, step_size=100)``, then
  ``plant.Site.create(1)``: one entity whose children are a device entity per plant device
  (eid = device id, model = device type) and a ``substation-<node>`` entity per node with
  the plant's own sums (:mod:`controller.cosim.mosaik_plant`);
* :class:`NodesSim` — ``world.start("Nodes", site=PATH, step_size=100)``, then
  ``nodes.Group.create(1, nodes=[...])`` (default every node): one entity whose children are
  a node entity per node (G, NG, pstar, state, migrations) and a device port per device of
  those nodes (:mod:`controller.cosim.mosaik_nodes`).

:func:`couple` connects every device port of a group to its plant device: states and held
values into the nodes, writes (``c_set``) back into the plant, time-shifted (the cycle's
delay of one step). ``summary()`` is an extra method of both (call it after
``world.run(until, shutdown=False)``; it goes over mosaik's wire, so it works for a
simulator in another process too).

Time: mosaik's time × ``time_resolution`` is plant time in seconds. The example runs
``time_resolution=0.001`` (mosaik time in ms) with ``step_size=100``: the 100 ms round of
the ``fast-5`` timings, so every round reads a fresh sample.

In another process: ``{"cmd": "%(python)s -m controller.cosim.mosaik_sims Nodes %(addr)s"}``
(or ``Plant``; ``-l warning`` quiets its log); on another host, start
``python -m controller.cosim.mosaik_sims Nodes --remote HOST:PORT`` there (it waits for one
connection) and give the world ``{"connect": "HOST:PORT"}``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import mosaik_api_v3

from config.loader import load_site
from config.settings import PlantKind
from config.site import Site
from controller.cosim.mosaik_model import device_ports, models_meta
from controller.cosim.mosaik_nodes import NodesSide
from controller.cosim.mosaik_plant import PlantSide
from simulators.plant import Plant
from simulators.site_plant import build_plant

DEFAULT_STEP = 100  # mosaik time steps (100 ms at time_resolution 0.001)


def site_plant(site: Site, kind: PlantKind | None = None) -> Plant:
    """The plant a PlantSim steps: the device models of :func:`simulators.site_plant.
    build_plant`, on the ``kind`` of plant asked (the sim parameter ``plant``: "simple" or
    "pandapower"; default the site's ``[simulation] plant``)."""
    return build_plant(site, start=0.0, plant=kind)


def _child(eid: str, model: str) -> dict[str, Any]:
    return {"eid": eid, "type": model, "rel": []}


class _Stepped(mosaik_api_v3.Simulator):
    """What both simulators share: the site, the step, the time resolution."""

    root = ""

    def __init__(self) -> None:
        super().__init__({"models": {}})  # type: ignore[no-untyped-call]
        self.site: Site | None = None
        self.resolution = 1.0
        self.step_size = DEFAULT_STEP
        self.created = False
        self.side: PlantSide | NodesSide | None = None

    def _init(self, time_resolution: float, step_size: int, types: set[str]) -> Any:
        self.resolution = float(time_resolution)
        self.step_size = int(step_size)
        if self.step_size <= 0:
            raise ValueError(f"step_size must be positive, not {step_size}")
        meta: Any = models_meta(types, self.root, ["nodes"] if self.root == "Group" else [])
        self.meta.update(meta)
        self.meta["extra_methods"] = ["summary"]
        return self.meta

    def _once(self, num: int, model: str) -> None:
        if model != self.root or num != 1 or self.created:
            raise ValueError(f"create one {self.root} (asked for {num} {model})")
        self.created = True

    def seconds(self, time: int) -> float:
        return round(time * self.resolution, 9)

    def get_data(self, outputs: Any) -> Any:
        assert self.side is not None, "get_data before create"
        return self.side.outputs(outputs)

    def summary(self) -> dict[str, object]:
        """The run so far (an extra method: ``sim.summary()`` in the scenario)."""
        assert self.side is not None, "summary before create"
        return self.side.summary()


class PlantSim(_Stepped):
    """The site's plant, one entity per device."""

    root = "Site"

    def init(self, sid: str, time_resolution: float = 1.0, **params: Any) -> Any:
        site = load_site(Path(params["site"]))
        self.site = site
        plant = site_plant(site, params.get("plant"))
        side = PlantSide(plant, site.devices, trace=bool(params.get("trace", False)))
        self.side = side
        types = {d.type for d in side.devices.values()}
        return self._init(time_resolution, params.get("step_size", DEFAULT_STEP), types)

    def create(self, num: int, model: str, **params: Any) -> list[Any]:
        self._once(num, model)
        side = self.side
        assert isinstance(side, PlantSide)
        children = [_child(d.id, d.type) for d in side.devices.values()]
        children += [_child(f"substation-{n}", "Substation") for n in side.nodes]
        return [{"eid": "site", "type": model, "rel": [], "children": children}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        assert isinstance(self.side, PlantSide), "step before create"
        self.side.step(self.seconds(time), inputs)
        return time + self.step_size


class NodesSim(_Stepped):
    """A group of the site's nodes around what the plant reports."""

    root = "Group"

    def __init__(self) -> None:
        super().__init__()
        self.seed = 0

    def init(self, sid: str, time_resolution: float = 1.0, **params: Any) -> Any:
        self.site = load_site(Path(params["site"]))
        self.seed = int(params.get("seed", 0))
        types = {d.type for d in self.site.devices}
        return self._init(time_resolution, params.get("step_size", DEFAULT_STEP), types)

    def create(self, num: int, model: str, **params: Any) -> list[Any]:
        self._once(num, model)
        assert self.site is not None
        side = NodesSide(self.site, params.get("nodes"), seed=self.seed)
        self.side = side
        children = [_child(n, "Node") for n in side.members]
        children += [_child(d.id, d.type) for d in side.devices.values()]
        return [{"eid": "group", "type": model, "rel": [], "children": children}]

    def step(self, time: int, inputs: Any, max_advance: int) -> int:
        assert isinstance(self.side, NodesSide), "step before create"
        following = time + self.step_size
        self.side.step(self.seconds(time), self.seconds(following), inputs)
        return following


def couple(world: Any, site: Site, plant_site: Any, group: Any) -> int:
    """Connect every device port of ``group`` (a NodesSim's Group entity) with the device of
    the same id under ``plant_site`` (a PlantSim's Site entity), by the device's profile in
    ``site``; the number of devices."""
    devices = {e.eid: e for e in plant_site.children}
    ports = [e for e in group.children if e.type != "Node"]
    for port in ports:
        device = devices.get(port.eid)
        if device is None:
            raise KeyError(f"the plant has no device {port.eid!r} (is it simulated?)")
        fed, sets = device_ports(site.device(port.eid))
        world.connect(device, port, *fed)
        if sets:
            world.connect(port, device, *sets, time_shifted=True,
                          initial_data=dict.fromkeys(sets))  # fmt: skip
    return len(ports)


SIMULATORS = {"Plant": PlantSim, "Nodes": NodesSim}


def main(argv: list[str] | None = None) -> int:
    """``python -m controller.cosim.mosaik_sims Plant|Nodes [-l LEVEL] [--remote] ADDR``: one
    simulator in its own process, connecting to the mosaik world at ``ADDR`` (mosaik's
    ``cmd`` starter), or with ``--remote`` listening there for it (its ``connect``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in SIMULATORS:
        print(f"usage: python -m controller.cosim.mosaik_sims {{{'|'.join(SIMULATORS)}}} "
              "[-l LEVEL] [--remote] HOST:PORT",
              file=sys.stderr)  # fmt: skip
        return 2
    sim = SIMULATORS[args.pop(0)]()
    sys.argv = [sys.argv[0], *args]  # mosaik_api_v3 reads the address from the command line
    return mosaik_api_v3.start_simulation(sim, "smartgrid-dgi mosaik simulator")


if __name__ == "__main__":
    sys.exit(main())
