"""The external plant: a node's devices as another simulator reports them."""

from __future__ import annotations

import math

import pytest

from config.loader import load_site
from controller.cosim.external import ExternalPlant

SITE = "config/examples/three-substations.toml"


@pytest.fixture
def plant() -> ExternalPlant:
    site = load_site(SITE)
    return ExternalPlant(list(site.devices_of("sst1")), "sst")


def test_nothing_reported_is_stale(plant: ExternalPlant) -> None:
    readings = plant.readings(10.0)
    assert not readings.fresh
    assert "sst1-gateway" in readings.stale


def test_reported_values_are_what_a_round_reads(plant: ExternalPlant) -> None:
    for device in plant.devices:
        for point in device.profile.points:
            if point.is_state:
                plant.report(device.id, point.signal, 1.0, at=4.0)
    plant.report("sst1-gateway", "gateway", 3.0, at=4.0)
    plant.report_held("sst1-gateway", "gateway", 2.5, at=4.0)
    plant.report("sst1-pv", "generation", 7.0, at=4.0)
    readings = plant.readings(5.0)
    assert readings.fresh
    assert readings.gateway == 3.0
    assert readings.generation == 7.0
    assert readings.setpoint == 2.5
    assert readings.setpoint_read_mark == 4.0  # as of the plant's sample, not the read
    assert plant.pstar == 2.5


def test_a_write_goes_to_the_outbox_once(plant: ExternalPlant) -> None:
    plant.pstar = 4.0
    assert plant.pstar == 4.0  # nothing held reported yet: what was written
    assert plant.take_outbox() == [("sst1-gateway", "gateway", 4.0)]
    assert plant.take_outbox() == []


def test_an_unknown_signal_or_device_is_named(plant: ExternalPlant) -> None:
    with pytest.raises(KeyError, match="no state 'voltage'"):
        plant.report("sst1-gateway", "voltage", 1.0, at=0.0)
    with pytest.raises(KeyError, match="no device 'x'; its devices: sst1-gateway"):
        plant.report("x", "gateway", 1.0, at=0.0)
    with pytest.raises(KeyError, match="no command 'drain'"):
        plant.report_held("sst1-load", "drain", 1.0, at=0.0)


def test_a_node_without_its_actuator_is_refused() -> None:
    site = load_site(SITE)
    devices = [d for d in site.devices_of("sst1") if d.type != "Sst"]
    with pytest.raises(ValueError, match="no Sst device"):
        ExternalPlant(devices, "sst")
    assert math.isinf(ExternalPlant(list(site.devices_of("sst1")), "sst").now)
