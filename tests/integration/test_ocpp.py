"""EV chargers over OCPP 1.6J: the node's central system (device_drivers/ocpp.py) against the
simulated charge point (simulators/charge_point.py), both the real ``ocpp`` library over real
websockets on 127.0.0.1 — and, where the simulator behaves too well, a bare websocket client
that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from config.loader import load_site
from config.site import Site
from controller.node.runtime import NodeRuntime
from controller.peer.keys import Keyring
from device_drivers.errors import (
    DeviceConnectionError,
    DeviceRejectedError,
    DeviceTimeoutError,
)
from device_drivers.ocpp import SUBPROTOCOL, CentralSystems, OcppDriver
from device_drivers.registry import Connections, build_driver
from simulators.charge_point import SimulatedChargePoint
from simulators.plant import ChargePointModel
from simulators.runner import Simulation
from tests.conftest import free_port
from tests.helpers import until as wait_until

KEYS = Keyring("k", {"k": bytes(32)})
CHARGER = "sst1-chargers"

SITE = """\
[site]
name = "ocpp-lab"

[algorithm]
failsafe_hold_s = 60.0

[[nodes]]
id = "sst1"
api = "127.0.0.1:{api}"
peer = "127.0.0.1:{peer}"

[[nodes.devices]]
id = "sst1-gateway"
type = "Sst"
transport = "simulated"
host = "127.0.0.1"
port = 0
profile = "sst"

[[nodes.devices]]
id = "sst1-chargers"
type = "Evse"
transport = "ocpp"
host = "127.0.0.1"
port = {ocpp}
timeout_s = 0.5
stale_after_s = 1.0
sim = {{ connected = {connected}, connectors = 2, demand_kw = 7.0, initial_limit_kw = 50.0, meter_interval_s = 0.2, reject_profiles = {reject} }}
"""


def site_file(tmp_path: Path, *, connected: bool = True, reject: bool = False) -> Site:
    path = tmp_path / "site.toml"
    text = SITE.format(
        api=free_port(),
        peer=free_port(),
        ocpp=free_port(),
        connected=str(connected).lower(),
        reject=str(reject).lower(),
    )
    path.write_text(text, encoding="utf-8")
    return load_site(path)


async def until(condition: Callable[[], Any], within_s: float, what: str) -> Any:
    return await wait_until(condition, within_s, what, every_s=0.05)


@dataclass
class Station:
    """A simulated site's charger, its simulator, and the central system it connects to."""

    site: Site
    sim: Simulation
    central: CentralSystems
    driver: OcppDriver

    @property
    def cp(self) -> SimulatedChargePoint:
        return self.sim.charge_point(CHARGER)

    @property
    def model(self) -> ChargePointModel:
        return self.cp.model

    async def power(self) -> float | None:
        """The charger's power as the driver reads it (raises while it cannot)."""
        await self.driver.read_all()
        return self.driver.state("power")

    async def draws(self, kw: float, within_s: float = 5.0) -> None:
        await until(
            lambda: self._close(kw), within_s, f"the driver reading {kw} kW from the charger"
        )

    async def reads(self, signal: str, value: float, within_s: float = 5.0) -> None:
        """Until the driver reads ``value`` for ``signal`` (each report is its own message:
        MeterValues for power, StatusNotification for connected)."""

        async def shown() -> bool:
            await self.driver.read_all()
            return self.driver.state(signal) == value

        await until(shown, within_s, f"the driver reading {signal} = {value:g}")

    async def _close(self, kw: float) -> bool:
        power = await self.power()
        return power is not None and abs(power - kw) < 1e-3


@contextlib.asynccontextmanager
async def station(tmp_path: Path, **options: bool) -> AsyncIterator[Station]:
    site = site_file(tmp_path, **options)
    central = CentralSystems()
    driver = build_driver(site.device(CHARGER), Connections(central=central))
    assert isinstance(driver, OcppDriver)
    async with Simulation(site) as sim:
        await central.start()
        try:
            yield Station(site, sim, central, driver)
        finally:
            await driver.close()
            await central.close()


async def test_boot_status_transactions_and_meter_values_make_a_reading(tmp_path: Path) -> None:
    async with station(tmp_path) as s:
        await s.draws(14.0)  # two cars at 7 kW, under the station's 50 kW
        assert s.driver.state("connected") == 1.0
        assert not s.driver.is_stale()
        state = s.driver.station
        assert (state.vendor, state.model) == ("dgi", "dgi-sim")
        assert [c for c, _ in state.transactions()] == [1, 2]
        assert {state.connectors[c].status for c in (1, 2)} == {"Charging"}
        assert s.driver.heartbeat_s == 1  # half of stale_after_s, at least 1 s
        energy = state.connectors[1].energy_wh
        assert energy is not None
        await asyncio.sleep(0.5)
        assert (state.connectors[1].energy_wh or 0.0) >= energy  # the register counts
        assert s.sim.plant.substations()["sst1"].ev_power == pytest.approx(14.0)


async def test_a_power_limit_becomes_profiles_and_the_draw_follows(tmp_path: Path) -> None:
    async with station(tmp_path) as s:
        await s.draws(14.0)
        errors = s.driver.stats.errors  # the reads before it connected
        await s.driver.write("power_limit", 8.0)
        # applied before the write returns: the cap on connector 0, a share per transaction
        assert s.sim.plant.commanded(CHARGER, "power_limit") == pytest.approx(8.0)
        assert s.model.tx_limits == {1: pytest.approx(4.0), 2: pytest.approx(4.0)}
        await s.draws(8.0)
        assert s.sim.plant.substations()["sst1"].ev_power == pytest.approx(8.0)
        await s.driver.write("power_limit", 0.0)  # the failsafe value: charging stops
        await s.draws(0.0)
        await until(lambda: s.driver.station.connectors[1].status == "SuspendedEVSE", 3,
                    "the charger reporting it is held back")  # fmt: skip
        assert s.driver.state("connected") == 1.0  # the cars are still plugged in
        assert s.driver.stats.writes == 2
        assert s.driver.stats.errors == errors


async def test_a_transaction_that_starts_later_gets_its_share(tmp_path: Path) -> None:
    async with station(tmp_path, connected=False) as s:
        await s.draws(0.0)
        assert s.driver.state("connected") == 0.0
        await s.driver.write("power_limit", 5.0)
        assert s.model.tx_limits == {}  # no transaction yet: the station cap only
        s.sim.set_state(CHARGER, "connected", 1.0)  # the cars arrive
        await until(lambda: len(s.driver.station.transactions()) == 2, 5, "two transactions")
        await until(lambda: len(s.model.tx_limits) == 2, 5, "a TxProfile for each")
        assert s.model.tx_limits == {1: pytest.approx(2.5), 2: pytest.approx(2.5)}
        await s.draws(5.0)
        s.sim.set_state(CHARGER, "connected", 0.0)  # and leave
        await until(lambda: not s.driver.station.transactions(), 5, "both transactions ended")
        await s.draws(0.0)
        await s.reads("connected", 0.0)  # its StatusNotification may come after the meter's 0


async def test_a_charge_point_that_drops_out_resumes_its_session(tmp_path: Path) -> None:
    async with station(tmp_path) as s:
        await s.draws(14.0)
        await s.driver.write("power_limit", 6.0)
        await s.draws(6.0)
        before = s.driver.station.transactions()
        booted = s.driver.station.booted_at
        await s.cp.go_offline()
        await until(lambda: s.driver.session is None, 2, "the disconnect seen")
        with pytest.raises(DeviceConnectionError, match=r"sst1-chargers disconnected"):
            await s.driver.read_all()
        assert s.driver.is_stale()
        with pytest.raises(DeviceConnectionError, match="not sent: not connected"):
            await s.driver.write("power_limit", 6.0)
        await asyncio.sleep(0.5)  # away a while: the cars charge on at the last limit
        s.cp.go_online()
        await s.draws(6.0)
        assert not s.driver.is_stale()
        assert s.driver.station.transactions() == before  # the same transactions go on
        assert s.driver.station.booted_at == booted  # resumed, not booted again
        assert s.cp.connections == 2
        assert s.model.tx_limits == {1: pytest.approx(3.0), 2: pytest.approx(3.0)}


async def test_a_charger_that_reboots_boots_again_and_gets_its_profiles_back(
    tmp_path: Path,
) -> None:
    async with station(tmp_path) as s:
        await s.draws(14.0)
        await s.driver.write("power_limit", 6.0)
        before, booted = s.driver.station.transactions(), s.driver.station.booted_at
        s.sim.restart_device(CHARGER)  # a power cycle: its model and transactions start anew
        assert s.sim.plant.commanded(CHARGER, "power_limit") == 50.0  # its profiles are gone
        await until(lambda: s.driver.station.booted_at != booted, 5, "a new BootNotification")
        await until(lambda: s.sim.plant.commanded(CHARGER, "power_limit") == 6.0, 5,
                    "the station cap sent again")  # fmt: skip
        await s.draws(6.0)
        after = s.driver.station.transactions()
        assert [c for c, _ in after] == [1, 2]
        assert {t for _, t in after}.isdisjoint({t for _, t in before})  # new transactions


async def test_a_new_connection_under_the_same_id_replaces_the_old(tmp_path: Path) -> None:
    """A charger that reconnected before its old connection was seen to close: the new one is
    served, the old one dropped, the transactions kept."""
    async with station(tmp_path) as s:
        await s.draws(14.0)
        before = s.driver.station.transactions()
        old = s.driver.session
        async with bare_client(s, CHARGER) as ws:
            await until(lambda: s.driver.session is not old, 2, "the new connection served")
            answer = await call(ws, "Heartbeat", {})
            assert answer[0] == 3  # a CALLRESULT
            assert answer[2]["currentTime"].endswith("Z")
            connector, transaction = before[0]
            await call(ws, "MeterValues", {
                "connectorId": connector, "transactionId": transaction,
                "meterValue": [{"timestamp": "2026-05-01T12:00:00Z", "sampledValue": [
                    {"value": "1000", "measurand": "Power.Active.Import", "unit": "W"}]}],
            })  # fmt: skip
            assert s.driver.station.transactions() == before
        # the simulator, dropped, comes back and replaces the bare client in turn
        await until(lambda: s.cp.connections >= 2, 5, "the simulator reconnecting")
        await s.draws(14.0)
        assert s.driver.station.transactions() == before


async def test_a_profile_the_charger_rejects_fails_the_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with station(tmp_path, reject=True) as s:
        await s.draws(14.0)
        errors = s.driver.stats.errors
        caplog.set_level(logging.DEBUG, logger="device_drivers")
        with pytest.raises(DeviceRejectedError, match=(
            r"sst1-chargers SetChargingProfile ChargePointMaxProfile 8 kW on connector 0 "
            r"answered Rejected"
        )):  # fmt: skip
            await s.driver.write("power_limit", 8.0)
        assert s.driver.stats.errors == errors + 1
        assert s.driver.stats.writes == 0
        assert s.driver.is_stale()  # until it answers again, as after a failed Modbus write
        with pytest.raises(DeviceRejectedError):
            await s.driver.write("power_limit", 8.0)
        warnings = [
            r for r in caplog.records if r.levelno == logging.WARNING and "Rejected" in r.message
        ]
        assert len(warnings) == 1  # logged on the edge, repeats at DEBUG
        await s.draws(14.0)  # the charger draws as before, and reads recover the device
        assert any("recovered after" in r.message for r in caplog.records)
        assert s.sim.plant.commanded(CHARGER, "power_limit") == 50.0


async def test_a_charger_that_never_answers_times_out_and_goes_stale(tmp_path: Path) -> None:
    async with station(tmp_path) as s:
        await s.cp.go_offline()  # the simulator stands aside for a charger that misbehaves
        async with bare_client(s, CHARGER) as ws:
            await call(ws, "Heartbeat", {})
            assert await s.power() == 0.0  # fresh: it spoke
            started = time.monotonic()
            with pytest.raises(
                DeviceTimeoutError,
                match=r"ChargePointMaxProfile 3 kW on connector 0 not answered within 0\.5 s",
            ):
                await s.driver.write("power_limit", 3.0)  # the request arrives, no answer
            assert 0.4 < time.monotonic() - started < 2.0
            request = json.loads(await ws.recv())
            assert request[0] == 2  # a CALL
            assert request[2] == "SetChargingProfile"
            assert (
                request[3]["csChargingProfiles"]["chargingProfilePurpose"]
                == "ChargePointMaxProfile"
            )
            assert request[3]["csChargingProfiles"]["chargingSchedule"]["chargingRateUnit"] == "W"
            await asyncio.sleep(1.2)  # nothing more from it for longer than stale_after_s
            with pytest.raises(
                DeviceTimeoutError, match=r"sent no MeterValues or Heartbeat for 1\.\d s"
            ):
                await s.driver.read_all()


async def test_the_central_system_refuses_strangers(tmp_path: Path) -> None:
    async with station(tmp_path) as s:
        system = s.driver.central
        assert system is not None
        with pytest.raises(InvalidStatus) as refused:
            async with connect(system.url("nobody"), subprotocols=[SUBPROTOCOL], proxy=None):
                pass
        assert refused.value.response.status_code == 404
        with pytest.raises(InvalidStatus) as wrong:
            async with connect(system.url(CHARGER), proxy=None):  # no ocpp1.6 offered
                pass
        assert wrong.value.response.status_code == 400


async def test_the_central_system_closes_and_frees_its_port(tmp_path: Path) -> None:
    site = site_file(tmp_path)
    central = CentralSystems()
    driver = build_driver(site.device(CHARGER), Connections(central=central))
    async with Simulation(site) as sim:
        await central.start()
        await central.start()  # idempotent
        await until(lambda: driver.read_all(), 5, "a first reading")
        await driver.close()
        await central.close()
        await central.close()
        await until(lambda: sim.charge_point(CHARGER).connection is None, 3, "the charger away")
        again = CentralSystems()  # a node restarted binds the same address
        second = build_driver(site.device(CHARGER), Connections(central=again))
        await again.start()
        await until(lambda: second.read_all(), 5, "the charger back at the new central system")
        await second.close()
        await again.close()
    # no_leftover_tasks (conftest) checks nothing is left running


async def test_a_node_reads_its_charger_and_releases_it_to_the_failsafe(tmp_path: Path) -> None:
    site = site_file(tmp_path)
    async with Simulation(site) as sim:
        node = NodeRuntime(site, "sst1", KEYS, api=False,
                           addresses={"sst1-gateway": sim.address("sst1-gateway")})  # fmt: skip
        await node.start()  # the central system listens before the first reading
        try:
            await until(lambda: node.devices.readings.fresh, 5, "every device fresh")
            assert node.devices.readings.drain == pytest.approx(14.0)  # EV power counts as drain
        finally:
            await node.stop(release=True)
        assert sim.plant.commanded(CHARGER, "power_limit") == 0.0  # failsafe: stop charging
        assert not node.devices.failsafe_pending


async def test_a_node_whose_charger_rejects_the_failsafe_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = site_file(tmp_path, reject=True)
    async with Simulation(site) as sim:
        node = NodeRuntime(site, "sst1", KEYS, api=False,
                           addresses={"sst1-gateway": sim.address("sst1-gateway")})  # fmt: skip
        await node.start()
        await until(lambda: node.devices.readings.fresh, 5, "every device fresh")
        with caplog.at_level(logging.WARNING):
            await node.devices.released_now(timeout_s=1.0)
        charger = node.devices.drivers[CHARGER]
        assert [(d.device_id, p.name) for d, p in node.devices.failsafe_pending] == [
            (CHARGER, "power_limit")
        ]
        assert charger.stats.errors >= 1  # counted, and logged (the rounds read on meanwhile)
        warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
        assert any("0 kW on connector 0 answered Rejected" in m for m in warnings), warnings
        await node.stop(release=False)


# -- a bare client: what the simulator would never do --------------------------------------------


@contextlib.asynccontextmanager
async def bare_client(s: Station, charge_point: str) -> AsyncIterator[ClientConnection]:
    system = s.driver.central
    assert system is not None
    async with connect(
        system.url(charge_point), subprotocols=[SUBPROTOCOL], proxy=None,
    ) as ws:  # fmt: skip
        yield ws


_ids = iter(range(1, 1_000_000))


async def call(ws: ClientConnection, action: str, payload: dict[str, Any]) -> list[Any]:
    """Send an OCPP CALL and return its answer (a CALLRESULT or CALLERROR frame)."""
    unique = str(next(_ids))
    await ws.send(json.dumps([2, unique, action, payload]))
    while True:
        frame = json.loads(await ws.recv())
        if frame[1] == unique:
            answer: list[Any] = frame
            return answer
