"""The pure sides of the mosaik co-simulation: attribute names, the plant side, the nodes
side, and the two stepped against each other as mosaik would (no mosaik here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from config.loader import load_site
from config.site import Site
from controller.cosim.mosaik_model import device_ports, models_meta, port, single, type_attrs
from controller.cosim.mosaik_nodes import NodesSide
from controller.cosim.mosaik_plant import PlantSide
from simulators.site_plant import build_plant

SITE = "config/examples/three-substations.toml"


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(SITE)


def plant_side(site: Site, trace: bool = False) -> PlantSide:
    return PlantSide(build_plant(site), site.devices, trace=trace)


def test_attribute_names() -> None:
    assert type_attrs("Sst") == ["gateway", "gateway_set", "gateway_held"]
    assert port("Sst", "gateway").role == "state"
    assert port("Sst", "gateway_set").signal == "gateway"
    assert port("Desd", "soc").role == "state"
    with pytest.raises(KeyError, match="a Drer has no attribute 'drain'; its attributes: gen"):
        port("Drer", "drain")
    meta = models_meta(["Sst", "Drer"], "Site", [])
    assert meta["type"] == "time-based"
    assert set(meta["models"]) == {"Site", "Substation", "Node", "Sst", "Drer"}


def test_device_ports_follow_the_profile(site: Site) -> None:
    assert device_ports(site.device("sst1-gateway")) == (
        ["gateway", "gateway_held"],
        ["gateway_set"],
    )
    fed, sets = device_ports(site.device("sst1-storage"))
    assert fed == ["soc", "soc_max", "soc_min", "storage", "storage_held"]
    assert sets == ["storage_set"]
    assert device_ports(site.device("sst1-pv")) == (["generation"], [])


def test_one_source_per_attribute() -> None:
    assert single("e", "a", {"CSV-0.PV_0": 3.0}) == 3.0
    assert single("e", "a", {}) is None
    with pytest.raises(ValueError, match=r"e\.a has several sources"):
        single("e", "a", {"A-0.x": 1.0, "B-0.y": 2.0})


def test_plant_side_applies_writes_and_profiles(site: Site) -> None:
    side = plant_side(site, trace=True)
    side.step(0.1, {"sst1-gateway": {"gateway_set": {"Nodes-0.sst1-gateway": -12.0}},
                    "sst1-pv": {"generation": {"CSV-0.PV_0": 14.0}},
                    "sst2-gateway": {"gateway_set": {"Nodes-0.sst2-gateway": None}}})  # fmt: skip
    assert side.output("sst1-gateway", "gateway_held") == -12.0
    assert side.output("sst2-gateway", "gateway_held") == 10.0  # None: nothing written
    assert side.output("sst1-pv", "generation") == 14.0
    assert side.received == [(0.1, "sst1-gateway", "gateway", -12.0)]
    assert side.trace is not None
    assert side.trace[0][1]["sst1-pv"] == 14.0
    assert side.setpoint_sum_change({"sst1-gateway": "gateway"}) == pytest.approx(8.0)
    view = side.outputs({"substation-sst1": ["net_generation"]})
    assert view["substation-sst1"]["net_generation"] == pytest.approx(14.0 - 20.0)


def test_plant_side_refuses_what_is_not_an_input(site: Site) -> None:
    side = plant_side(site)
    with pytest.raises(ValueError, match=r"sst1-gateway\.gateway_held is the plant's output"):
        side.step(0.1, {"sst1-gateway": {"gateway_held": {"x.y": 1.0}}})
    with pytest.raises(ValueError, match=r"sst1-gateway\.gateway is the plant's output"):
        side.step(0.1, {"sst1-gateway": {"gateway": {"x.y": 1.0}}})
    with pytest.raises(KeyError, match="the plant has no device 'sst9'"):
        side.step(0.1, {"sst9": {"gateway": {"x.y": 1.0}}})
    with pytest.raises(TypeError, match=r"sst1-pv\.generation got 'sunny'"):
        side.step(0.1, {"sst1-pv": {"generation": {"x.y": "sunny"}}})


def test_nodes_side_knows_its_members(site: Site) -> None:
    side = NodesSide(site, ["sst2", "sst1"])
    assert side.members == ["sst1", "sst2"]
    assert "sst3-gateway" not in side.devices
    with pytest.raises(KeyError, match="site three-substations has no node sst9"):
        NodesSide(site, ["sst9"])
    with pytest.raises(ValueError, match=r"sst1-gateway\.gateway_set is the nodes' output"):
        side.step(0.0, 0.1, {"sst1-gateway": {"gateway_set": {"x.y": 1.0}}})


def cycle(site: Site, seconds: float, step: float = 0.1) -> tuple[PlantSide, NodesSide]:
    """The plant and the nodes stepped as mosaik steps them: plant -> nodes in the same step,
    nodes -> plant one step later (the time-shifted side of the cycle)."""
    plant, nodes = plant_side(site), NodesSide(site)
    wanted = {eid: ports for eid in nodes.devices if (ports := device_ports(site.device(eid)))}
    writes: dict[str, dict[str, dict[str, object]]] = {}
    for k in range(round(seconds / step)):
        t = round(k * step, 9)
        plant.step(t, writes)
        fed = plant.outputs({eid: ports[0] for eid, ports in wanted.items()})
        inputs = {e: {a: {f"Plant-0.{e}": v} for a, v in vals.items()} for e, vals in fed.items()}
        nodes.step(t, round(t + step, 9), inputs)
        sets = nodes.outputs({eid: ports[1] for eid, ports in wanted.items() if ports[1]})
        writes = {e: {a: {f"Nodes-0.{e}": v} for a, v in vals.items()} for e, vals in sets.items()}
    return plant, nodes


@pytest.mark.parametrize("step", [0.1, 1.0])
def test_the_cycle_balances_the_plant(site: Site, step: float) -> None:
    plant, nodes = cycle(site, 20.0, step)
    assert all(abs(d) < 0.05 for d in plant.imbalance().values()), plant.imbalance()
    actuators = {f"{n}-gateway": "gateway" for n in nodes.members}
    assert plant.setpoint_sum_change(actuators) == pytest.approx(0.0, abs=1e-9)
    assert [tuple(s) for s in nodes.sent if s[0] < 20.0] == plant.received
    assert nodes.migrations() >= 2
    summary = nodes.summary()
    assert summary["nodes"]["sst2"]["pstar"] == pytest.approx(-10.0)


def test_dgi_does_not_load_mosaik_at_start() -> None:
    """mosaik is the cosim extra's: ``dgi`` starts without it (and faster)."""
    probe = "import sys, controller.cli.entry; print('mosaik_api_v3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
