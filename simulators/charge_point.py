"""A simulated OCPP 1.6J charge point: the client side of the ``ocpp`` library.

This is the only simulator module that imports ``ocpp`` (and the websockets client). One
:class:`SimulatedChargePoint` plays each ``ocpp`` Evse device with a ``sim`` table
(``dgi simulate`` starts them). It connects to ``ws://HOST:PORT/ocpp/<id>`` with subprotocol
``ocpp1.6`` and behaves as a charging station does:

* it retries with backoff (0.1 s doubling to 1 s) until the central system is up, and again
  after any disconnect. A reconnect *resumes*: the same transactions go on (their meter values
  carry the same transaction ids) and a StatusNotification of every connector is sent again;
  only the first connection (or a reboot) sends a BootNotification;
* a Heartbeat at the interval the BootNotification answer gives, and MeterValues of every
  connector every ``meter_interval_s`` (Power.Active.Import in W and the
  Energy.Active.Import.Register in Wh);
* a car at every connector when the plant says ``connected`` (``sim.connected``, or ``dgi
  fault --plant``): Authorize, then StartTransaction; unplugged: StopTransaction;
* SetChargingProfile: a ChargePointMaxProfile on connector 0 sets the station limit, a
  TxProfile the limit of its transaction's connector (in W, or A at 230 V per phase); the
  limit is the schedule's first period, in force at once. Other purposes are answered
  NotSupported, and every profile Rejected with ``reject_profiles``.

What the connectors draw is the plant's (:class:`~simulators.plant.ChargePointModel`), so the
substation's grid import follows the charger as it follows a Modbus Evse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from ocpp import routing
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.datatypes import MeterValue, SampledValue
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    ChargePointErrorCode,
    ChargingProfilePurposeType,
    ChargingProfileStatus,
    Measurand,
    ReadingContext,
    Reason,
    RegistrationStatus,
    UnitOfMeasure,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from config.simulation import EvseSim
from config.site import Device
from device_drivers.ocpp_state import ocpp_time
from simulators.plant import ChargePointModel, Plant

log = logging.getLogger(__name__)

SUBPROTOCOL = Subprotocol("ocpp1.6")
VOLTS = 230.0  # per phase, to turn a limit in A into kW
ACCEPTED: str = ChargingProfileStatus.accepted
REJECTED: str = ChargingProfileStatus.rejected
NOT_SUPPORTED: str = ChargingProfileStatus.not_supported

Handler = Callable[..., Any]


def on(action: str) -> Callable[[Handler], Handler]:
    """The library's ``@on`` (typed here; ``ocpp`` has no types)."""
    return cast(Callable[[Handler], Handler], routing.on(action))


class _Quiet(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The ``ocpp`` library logs every message at INFO: at DEBUG here."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        super().log(logging.DEBUG if level == logging.INFO else level, msg, *args, **kwargs)


_WIRE = _Quiet(logging.getLogger("simulators.charge_point.wire"), {})


def limit_kw(schedule: dict[str, Any]) -> float:
    """The limit of a charging schedule's first period, in kW (ValueError: unreadable)."""
    periods = schedule.get("charging_schedule_period") or []
    periods = sorted(periods, key=lambda p: p["start_period"])
    if not periods:
        raise ValueError("a schedule without periods")
    limit = float(periods[0]["limit"])
    if schedule.get("charging_rate_unit") == "A":
        return limit * VOLTS * (periods[0].get("number_phases") or 3) / 1000.0
    return limit / 1000.0


@dataclass
class _Outlet:
    connector_id: int
    transaction_id: int | None = None
    sent: str | None = None  # the status last sent on this connection
    refused: bool = False  # the car's id tag was not accepted: wait for the next car


class _Client(ChargePoint):  # type: ignore[misc]  # ocpp has no types
    """One connection's ``ocpp`` handlers: the central system's requests."""

    def __init__(self, station: SimulatedChargePoint, connection: ClientConnection) -> None:
        super().__init__(station.id, connection, response_timeout=station.timeout_s, logger=_WIRE)
        self.station = station

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any], **_: Any
    ) -> Any:
        status = self.station.take_profile(connector_id, cs_charging_profiles)
        return call_result.SetChargingProfile(status=status)


class SimulatedChargePoint:
    """The charge point of one ``ocpp`` Evse device (see the module docstring)."""

    def __init__(
        self,
        device: Device,
        plant: Plant,
        now: Callable[[], float],
        *,
        clock: Callable[[], float] = time.time,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 1.0,
    ) -> None:
        sim = device.sim if isinstance(device.sim, EvseSim) else EvseSim()
        host, port = device.entry.host or "127.0.0.1", device.entry.port or 0
        connect_to = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.device = device
        self.id = device.id
        self.url = f"ws://{connect_to}:{port}/ocpp/{device.id}"
        self.plant = plant
        self.now = now  # the plant's time
        self.clock = clock  # OCPP timestamps
        self.timeout_s = max(device.entry.timeout_s, 2.0)
        self.meter_interval_s = sim.meter_interval_s
        self.reject_profiles = sim.reject_profiles
        self.backoff_min_s, self.backoff_max_s = backoff_min_s, backoff_max_s
        self.outlets = {c: _Outlet(c) for c in range(1, sim.connectors + 1)}
        self.booted = False
        self.heartbeat_s = 10.0  # until the BootNotification answer says
        self.connections = 0  # connections made so far
        self.connection: ClientConnection | None = None
        self._online = asyncio.Event()
        self._online.set()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def model(self) -> ChargePointModel:
        model = self.plant.devices[self.id].model
        assert isinstance(model, ChargePointModel)
        return model

    # -- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"charge point {self.id}")

    async def stop(self) -> None:
        """Disconnect and stop for good (idempotent)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def go_offline(self) -> None:
        """Drop the connection and stay away until :meth:`go_online` (its link is down)."""
        self._online.clear()
        await self.drop()

    def go_online(self) -> None:
        self._online.set()

    @property
    def online(self) -> bool:
        return self._online.is_set()

    async def drop(self) -> None:
        """Close the connection now; the charge point reconnects after its backoff."""
        connection = self.connection
        if connection is not None:
            with contextlib.suppress(ConnectionClosed):
                await connection.close(code=1001, reason="charge point link lost (simulated)")

    def reboot(self) -> None:
        """A power cycle: the connection drops (no closing handshake), the transactions are
        gone, and the next connection boots again."""
        self.booted = False
        self.outlets = {c: _Outlet(c) for c in self.outlets}
        if self.connection is not None:
            self.connection.transport.abort()

    async def _run(self) -> None:
        delay = self.backoff_min_s
        while True:
            await self._online.wait()
            try:
                async with connect(
                    self.url, subprotocols=[SUBPROTOCOL], open_timeout=2.0, close_timeout=1.0,
                    proxy=None,
                ) as connection:  # fmt: skip
                    delay = self.backoff_min_s
                    self._connected(connection)
                    await self._session(connection)
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
                self._unreachable(exc)
            except Exception as exc:  # a charger does not give up: log it, and connect again
                log.warning("%s: connection failed: %r", self.id, exc)
            finally:
                self.connection = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max_s)

    def _connected(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.connections += 1
        self._failing = False
        log.info("%s connected to %s (connection %d)", self.id, self.url, self.connections)

    def _unreachable(self, exc: Exception) -> None:
        level = logging.DEBUG if self._failing else logging.INFO
        log.log(level, "%s: central system %s not reachable (%s); retrying", self.id, self.url,
                exc or type(exc).__name__)  # fmt: skip
        self._failing = True

    async def _session(self, connection: ClientConnection) -> None:
        """Serve one connection: the library's reader and our requests, until either ends."""
        client = _Client(self, connection)
        tasks = [
            asyncio.create_task(client.start(), name=f"{self.id} reader"),
            asyncio.create_task(self._work(client), name=f"{self.id} requests"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = task.exception()
            if error is not None and not isinstance(error, ConnectionClosed):
                log.info("%s: connection given up: %r", self.id, error)

    # -- what the charge point sends --------------------------------------------------------------

    async def _work(self, client: _Client) -> None:
        if not self.booted:
            await self._boot(client)
        for outlet in self.outlets.values():
            outlet.sent = None  # every status again on a new connection
        await self._status(client, 0, "Available")
        loop = asyncio.get_running_loop()
        next_meter = next_beat = loop.time()
        while True:
            await self._plugs(client)
            await self._statuses(client)
            now = loop.time()
            if now >= next_beat:
                await client.call(call.Heartbeat())
                next_beat = max(next_beat + self.heartbeat_s, now)
            if now >= next_meter:
                await self._meter(client)
                next_meter = max(next_meter + self.meter_interval_s, now)
            await asyncio.sleep(max(0.0, min(next_meter, next_beat, now + 0.1) - loop.time()))

    async def _boot(self, client: _Client) -> None:
        while True:
            answer = await client.call(
                call.BootNotification(charge_point_model="dgi-sim", charge_point_vendor="dgi")
            )
            interval = float(answer.interval) if answer is not None and answer.interval else 10.0
            if answer is not None and answer.status == RegistrationStatus.accepted:
                self.heartbeat_s, self.booted = interval, True
                return
            await asyncio.sleep(interval)

    async def _status(self, client: _Client, connector_id: int, status: str) -> None:
        await client.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=ChargePointErrorCode.no_error,
                status=status,
                timestamp=ocpp_time(self.clock()),
            )
        )

    def _status_of(self, outlet: _Outlet) -> str:
        if outlet.transaction_id is None:
            return "Preparing" if self.model.car_connected else "Available"
        if self.model.draw.get(outlet.connector_id, 0.0) > 0.0:
            return "Charging"
        return "SuspendedEV" if self.model.demand(self.now()) <= 0.0 else "SuspendedEVSE"

    async def _statuses(self, client: _Client) -> None:
        for outlet in self.outlets.values():
            status = self._status_of(outlet)
            if status != outlet.sent:
                await self._status(client, outlet.connector_id, status)
                outlet.sent = status

    async def _plugs(self, client: _Client) -> None:
        """Start a transaction where a car waits, stop it where the car left."""
        self.plant.advance(self.now())
        car = self.model.car_connected
        for outlet in self.outlets.values():
            if car and outlet.transaction_id is None and not outlet.refused:
                await self._start(client, outlet)
            elif not car and outlet.transaction_id is not None:
                await self._stop(client, outlet)
            elif not car:
                outlet.refused = False

    def _id_tag(self, outlet: _Outlet) -> str:
        return f"car-{outlet.connector_id}"

    async def _start(self, client: _Client, outlet: _Outlet) -> None:
        if outlet.sent != "Preparing":
            await self._status(client, outlet.connector_id, "Preparing")
            outlet.sent = "Preparing"
        tag = self._id_tag(outlet)
        answer = await client.call(call.Authorize(id_tag=tag))
        if answer is None or answer.id_tag_info["status"] != AuthorizationStatus.accepted:
            outlet.refused = True
            log.info("%s connector %d: id tag %s not accepted", self.id, outlet.connector_id, tag)
            return
        meter = self.model.energy_wh.get(outlet.connector_id, 0.0)
        started = await client.call(
            call.StartTransaction(
                connector_id=outlet.connector_id,
                id_tag=tag,
                meter_start=int(meter),
                timestamp=ocpp_time(self.clock()),
            )
        )
        if started is None:
            outlet.refused = True
            return
        outlet.transaction_id = started.transaction_id
        self.model.charging.add(outlet.connector_id)
        self.plant.refresh()

    async def _stop(self, client: _Client, outlet: _Outlet) -> None:
        assert outlet.transaction_id is not None
        self.plant.advance(self.now())
        connector = outlet.connector_id
        self.model.charging.discard(connector)
        self.model.tx_limits.pop(connector, None)  # a TxProfile ends with its transaction
        self.plant.refresh()
        await client.call(
            call.StopTransaction(
                meter_stop=int(self.model.energy_wh.get(connector, 0.0)),
                timestamp=ocpp_time(self.clock()),
                transaction_id=outlet.transaction_id,
                reason=Reason.ev_disconnected,
                id_tag=self._id_tag(outlet),
            )
        )
        outlet.transaction_id = None

    async def _meter(self, client: _Client) -> None:
        self.plant.advance(self.now())
        model, stamp = self.model, ocpp_time(self.clock())
        for outlet in self.outlets.values():
            connector = outlet.connector_id
            values = [
                SampledValue(
                    value=f"{model.draw.get(connector, 0.0) * 1000.0:.1f}",
                    context=ReadingContext.sample_periodic,
                    measurand=Measurand.power_active_import,
                    unit=UnitOfMeasure.w,
                ),
                SampledValue(
                    value=f"{model.energy_wh.get(connector, 0.0):.0f}",
                    context=ReadingContext.sample_periodic,
                    measurand=Measurand.energy_active_import_register,
                    unit=UnitOfMeasure.wh,
                ),
            ]
            await client.call(
                call.MeterValues(
                    connector_id=connector,
                    transaction_id=outlet.transaction_id,
                    meter_value=[MeterValue(timestamp=stamp, sampled_value=values)],
                )
            )

    # -- what the central system asks -------------------------------------------------------------

    def take_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        """Apply a SetChargingProfile; its answer's status."""
        if self.reject_profiles:
            return REJECTED
        purpose = profile.get("charging_profile_purpose")
        try:
            kw = limit_kw(profile.get("charging_schedule") or {})
        except (KeyError, TypeError, ValueError):
            return REJECTED
        self.plant.advance(self.now())
        if purpose == ChargingProfilePurposeType.charge_point_max_profile:
            if connector_id != 0:
                return REJECTED
            self.plant.command(self.id, "power_limit", kw)
        elif purpose == ChargingProfilePurposeType.tx_profile:
            outlet = self.outlets.get(connector_id)
            wanted = profile.get("transaction_id")
            if outlet is None or outlet.transaction_id is None or wanted not in (
                None, outlet.transaction_id
            ):  # fmt: skip
                return REJECTED
            self.model.tx_limits[connector_id] = kw
            self.plant.refresh()
        else:
            return NOT_SUPPORTED
        log.debug("%s: %s %.1f kW on connector %d", self.id, purpose, kw, connector_id)
        return ACCEPTED
