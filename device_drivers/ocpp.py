"""EV chargers over OCPP 1.6J: the node is the central system of its charge points.

This is the only module of the controller that imports ``ocpp`` and ``websockets``. Modbus
asks a device; OCPP turns it round: the charge point connects to the central system
(``ws://HOST:PORT/ocpp/<charge point id>``, subprotocol ``ocpp1.6``) and reports on its own.

* :class:`CentralSystem` — one websocket server per ``host:port``, shared by the ocpp devices
  of a node (``device id`` = charge point identity = the last part of the path). A path that
  names no device of the node is refused at the handshake (404). A second connection under
  one id replaces the first — a charger that reconnected before its old TCP connection timed
  out — and keeps its transactions. :class:`CentralSystems` holds a node's servers by
  ``host:port`` (as :class:`~device_drivers.modbus.LinkPool` holds its Modbus links); the node
  starts them before its first read and closes them after its drivers.
* :class:`OcppDriver` — one charge point behind the usual driver interface. The requests it
  receives go into its :class:`~device_drivers.ocpp_state.ChargePointState` (the rules are
  there); BootNotification is accepted with a heartbeat interval of half ``stale_after_s``,
  Authorize is accepted, StartTransaction gets a transaction id. A read returns the state's
  ``power`` and ``connected``, or fails — the device is then stale like any other — while the
  charge point is not connected or sent no MeterValues or Heartbeat for ``stale_after_s``.
* ``power_limit`` (kW) is written as a ``ChargePointMaxProfile`` on connector 0 and a
  ``TxProfile`` per active transaction (the limit shared equally), sent again whenever a
  transaction starts or stops and after a BootNotification. Each answer is checked: Rejected,
  NotSupported, an error answer or none within ``timeout_s`` fails the write (a
  :class:`DriverError`, logged on edges and counted, as a failed Modbus write). A profile
  sent on the charge point's own account (a transaction started) that fails is logged and
  counted the same way, and sent again with the next change or write.

It sits on the point-level :class:`~device_drivers.base.DeviceDriver` directly (no registers):
its reads are the state's values, checked by the base like any other device's; its write is
the profiles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, cast

from ocpp import routing
from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.datatypes import ChargingProfile, ChargingSchedule, ChargingSchedulePeriod, IdTagInfo
from ocpp.v16.enums import (
    Action,
    AuthorizationStatus,
    ChargingProfileKindType,
    ChargingProfileStatus,
    ChargingRateUnitType,
    RegistrationStatus,
)
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from config.profile import Point, Profile
from device_drivers.base import DeviceDriver
from device_drivers.errors import (
    DeviceConnectionError,
    DeviceRejectedError,
    DeviceTimeoutError,
    DeviceValueError,
    DriverError,
)
from device_drivers.ocpp_state import (
    STACK_LEVEL,
    ChargePointState,
    ProfileSpec,
    ocpp_time,
    profiles_for,
)

log = logging.getLogger(__name__)

SUBPROTOCOL = Subprotocol("ocpp1.6")
PATH_PREFIX = "/ocpp/"

Handler = Callable[..., Any]


def on(action: str) -> Callable[[Handler], Handler]:
    """The library's ``@on``: the handler of a request (typed here; ``ocpp`` has no types)."""
    return cast(Callable[[Handler], Handler], routing.on(action))


def after(action: str) -> Callable[[Handler], Handler]:
    """The library's ``@after``: runs once the answer to the request has been sent."""
    return cast(Callable[[Handler], Handler], routing.after(action))


class _Quiet(logging.LoggerAdapter):  # type: ignore[type-arg]
    """The ``ocpp`` library logs every message at INFO: at DEBUG here."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        super().log(logging.DEBUG if level == logging.INFO else level, msg, *args, **kwargs)


_WIRE = _Quiet(logging.getLogger("device_drivers.ocpp.wire"), {})
_SOCKETS = _Quiet(logging.getLogger("device_drivers.ocpp.websockets"), {})


class CentralSystemError(OSError):
    """The central system cannot listen on its address (in use, or not an address here)."""


class _Session(ChargePoint):  # type: ignore[misc]  # ocpp has no types
    """One websocket connection of a charge point: the ``ocpp`` library's handlers, each
    handing its request to the driver."""

    def __init__(self, driver: OcppDriver, connection: ServerConnection) -> None:
        super().__init__(
            driver.device_id, connection, response_timeout=driver.timeout_s, logger=_WIRE
        )
        self.driver = driver
        self.connection = connection

    @on(Action.boot_notification)
    def on_boot(self, charge_point_vendor: str, charge_point_model: str, **_: Any) -> Any:
        self.driver.booted(charge_point_vendor, charge_point_model)
        return call_result.BootNotification(
            current_time=ocpp_time(self.driver.clock()),
            interval=self.driver.heartbeat_s,
            status=RegistrationStatus.accepted,
        )

    @after(Action.boot_notification)
    def after_boot(self, **_: Any) -> None:
        self.driver.push_profiles("the charge point booted")

    @on(Action.heartbeat)
    def on_heartbeat(self, **_: Any) -> Any:
        self.driver.station.heartbeat(self.driver.clock())
        return call_result.Heartbeat(current_time=ocpp_time(self.driver.clock()))

    @on(Action.status_notification)
    def on_status(self, connector_id: int, error_code: str, status: str, **_: Any) -> Any:
        self.driver.station.status(connector_id, status, error_code)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **_: Any) -> Any:
        return call_result.Authorize(id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted))

    @on(Action.start_transaction)
    def on_start(self, connector_id: int, meter_start: int, **_: Any) -> Any:
        transaction = self.driver.station.start_transaction(connector_id, meter_start)
        log.info("%s connector %d: transaction %d started", self.id, connector_id, transaction)
        return call_result.StartTransaction(
            transaction_id=transaction, id_tag_info=IdTagInfo(status=AuthorizationStatus.accepted)
        )

    @after(Action.start_transaction)
    def after_start(self, **_: Any) -> None:  # once the charge point has its transaction id
        self.driver.push_profiles("a transaction started")

    @on(Action.stop_transaction)
    def on_stop(self, transaction_id: int, meter_stop: int, **_: Any) -> Any:
        connector = self.driver.station.stop_transaction(transaction_id, meter_stop)
        log.info("%s connector %s: transaction %d stopped", self.id, connector, transaction_id)
        return call_result.StopTransaction()

    @after(Action.stop_transaction)
    def after_stop(self, **_: Any) -> None:
        self.driver.push_profiles("a transaction stopped")

    @on(Action.meter_values)
    def on_meter_values(
        self, connector_id: int, meter_value: list[Any], transaction_id: int | None = None, **_: Any
    ) -> Any:
        station, now = self.driver.station, self.driver.clock()
        if station.meter_values(connector_id, transaction_id, meter_value, now):
            log.info("%s connector %d: transaction %s taken up from its meter values",
                     self.id, connector_id, transaction_id)  # fmt: skip
            self.driver.push_profiles("a transaction was taken up")
        return call_result.MeterValues()


def _profile_request(spec: ProfileSpec, now: float) -> Any:
    schedule = ChargingSchedule(
        charging_rate_unit=ChargingRateUnitType.watts,
        charging_schedule_period=[ChargingSchedulePeriod(start_period=0, limit=spec.limit_w)],
        start_schedule=ocpp_time(now),
    )
    profile = ChargingProfile(
        charging_profile_id=spec.profile_id,
        stack_level=STACK_LEVEL,
        charging_profile_purpose=spec.purpose,
        charging_profile_kind=ChargingProfileKindType.absolute,
        charging_schedule=schedule,
        transaction_id=spec.transaction_id,
    )
    return call.SetChargingProfile(connector_id=spec.connector_id, cs_charging_profiles=profile)


class CentralSystem:
    """The OCPP websocket server of one ``host:port`` and the charge points it serves."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port  # the bound port once started (when 0 was asked for)
        self.drivers: dict[str, OcppDriver] = {}
        self.server: Server | None = None
        self._refused: set[str] = set()  # paths refused (logged at WARNING the first time)

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, charge_point: str) -> str:
        return f"ws://{self.name}{PATH_PREFIX}{charge_point}"

    async def start(self) -> None:
        """Listen (idempotent); :class:`CentralSystemError` when the address is taken."""
        if self.server is not None:
            return
        try:
            self.server = await serve(
                self._serve,
                self.host,
                self.port,
                subprotocols=[SUBPROTOCOL],
                process_request=self._route,
                logger=_SOCKETS,
                close_timeout=2.0,
            )
        except OSError as exc:
            raise CentralSystemError(
                exc.errno, f"cannot listen for OCPP charge points on {self.name}: {exc.strerror}"
            ) from exc
        self.port = next(iter(self.server.sockets)).getsockname()[1]
        log.info("OCPP central system on %s for %s", self.url("<id>"), ", ".join(self.drivers))

    def _route(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse, before the upgrade, a path that names none of this node's charge points."""
        charge_point = request.path.removeprefix(PATH_PREFIX)
        if request.path.startswith(PATH_PREFIX) and charge_point in self.drivers:
            return None
        known = ", ".join(PATH_PREFIX + d for d in sorted(self.drivers))
        level = logging.DEBUG if request.path in self._refused else logging.WARNING
        log.log(level, "OCPP %s: refused a charge point at %s (known: %s)", self.name,
                request.path, known)  # fmt: skip
        self._refused.add(request.path)
        body = f"no charge point at {request.path}; this central system serves {known}\n"
        headers = Headers({"Content-Type": "text/plain"})
        return Response(HTTPStatus.NOT_FOUND, "Not Found", headers, body.encode())

    async def _serve(self, connection: ServerConnection) -> None:
        path = connection.request.path if connection.request is not None else ""
        driver = self.drivers.get(path.removeprefix(PATH_PREFIX))
        if driver is not None:  # None: its driver closed since the handshake
            await driver.serve(connection)

    async def close(self) -> None:
        """Stop listening and close every connection (idempotent)."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


class CentralSystems:
    """A node's central systems, one per ``host:port`` (see the module docstring)."""

    def __init__(self) -> None:
        self.systems: dict[tuple[str, int], CentralSystem] = {}

    def at(self, host: str, port: int) -> CentralSystem:
        return self.systems.setdefault((host, port), CentralSystem(host, port))

    async def start(self) -> None:
        for system in self.systems.values():
            await system.start()

    async def heard(self, within_s: float) -> bool:
        """Wait up to ``within_s`` until every charge point has sent a MeterValues or a
        Heartbeat (the node's first reading then finds them); whether they all did."""
        drivers = [d for system in self.systems.values() for d in system.drivers.values()]
        deadline = asyncio.get_running_loop().time() + within_s
        while any(d.session is None or d.station.last_heard is None for d in drivers):
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def close(self) -> None:
        for system in self.systems.values():
            await system.close()
        self.systems.clear()


class OcppDriver(DeviceDriver):
    """One OCPP charge point (see the module docstring); ``central`` None: not served here."""

    def __init__(
        self,
        device_id: str,
        profile: Profile,
        *,
        central: CentralSystem | None,
        where: str,
        timeout_s: float = 1.0,
        stale_after_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(device_id, profile, stale_after_s=stale_after_s, clock=clock)
        self.central = central
        self.where = where  # host:port, for messages
        self.timeout_s = timeout_s
        self.heartbeat_s = max(1, int(stale_after_s / 2))
        self.station = ChargePointState()
        self.session: _Session | None = None
        self.connected_at: float | None = None
        self.disconnected_at: float | None = None
        self.limit_kw: float | None = None  # the newest power_limit written
        self.synced = True  # every profile of the newest limit accepted
        self._lock = asyncio.Lock()  # one set of profiles at a time
        self._pusher: asyncio.Task[None] | None = None
        self._push_again = False
        if central is not None:
            central.drivers[device_id] = self

    # -- the connection ---------------------------------------------------------------------------

    async def serve(self, connection: ServerConnection) -> None:
        """Serve one websocket connection of this charge point until it closes."""
        old, self.session = self.session, _Session(self, connection)
        session = self.session
        self.connected_at = self.clock()
        if old is not None:  # the old one may be half-open: drop it, no closing handshake
            log.info("%s reconnected: the new connection replaces the old one", self.device_id)
            old.connection.transport.abort()
        else:
            away = "" if self.disconnected_at is None else (
                f" after {self.connected_at - self.disconnected_at:.1f} s away")  # fmt: skip
            log.info("%s connected from %s%s", self.device_id, _peer(connection), away)
        if not self.synced:
            self.push_profiles("the charge point is back")
        try:
            await session.start()
        except ConnectionClosed:
            pass
        finally:
            if self.session is session:
                self.session = None
                self.disconnected_at = self.clock()
                log.info("%s disconnected", self.device_id)

    def booted(self, vendor: str, model: str) -> None:
        self.station.boot(vendor, model, self.clock())
        log.info("%s booted (%s %s)", self.device_id, vendor, model)
        self.synced = self.limit_kw is None  # a charger that rebooted may have lost its profiles

    # -- reading ----------------------------------------------------------------------------------

    async def _read_points(self) -> dict[str, float | None]:
        """The charge point's states by point name (checked by the base), or why they cannot
        be trusted."""
        self.stats.requests += 1
        self._check_heard()
        station = self.station
        if station.meter_problem is not None:
            raise DeviceValueError(self.device_id, f"MeterValues {station.meter_problem}")
        found = {"power": station.power_kw, "connected": 1.0 if station.connected else 0.0}
        points = [(self.profile.state_point(signal), value) for signal, value in found.items()]
        return {point.name: value for point, value in points if point is not None}

    def _check_heard(self) -> None:
        if self.central is None:
            raise DeviceConnectionError(
                self.device_id,
                f"is an OCPP charge point: it connects to its node's central system at "
                f"{self.where}, and is read through the node",
            )
        if self.session is None:
            since = (
                "has not connected"
                if self.disconnected_at is None
                else f"disconnected {self.clock() - self.disconnected_at:.1f} s ago"
            )
            raise DeviceConnectionError(
                self.device_id, f"{since} (OCPP charge point, {self.central.url(self.device_id)})"
            )
        heard = self.station.last_heard
        if heard is None or self.clock() - heard > self.stale_after_s:
            quiet = "no MeterValues or Heartbeat yet" if heard is None else (
                f"no MeterValues or Heartbeat for {self.clock() - heard:.1f} s")  # fmt: skip
            raise DeviceTimeoutError(
                self.device_id, f"sent {quiet} (stale_after_s {self.stale_after_s:g})"
            )

    # -- writing ----------------------------------------------------------------------------------

    def _writable(self, point_name: str) -> Point:
        point = super()._writable(point_name)
        if point.signal != "power_limit":
            raise DriverError(self.device_id, f"{point.name}: an OCPP charge point takes "
                              "power_limit only")  # fmt: skip
        return point

    async def _write_point(self, point: Point, prepared: object) -> None:
        """Write ``power_limit`` (kW) as charging profiles; raise when any is not accepted."""
        self.limit_kw = cast(float, prepared)
        await self._apply()

    def push_profiles(self, why: str) -> None:
        """Send the profiles of the newest limit again, in the background (coalesced)."""
        if self.limit_kw is None:
            return
        if self._pusher is not None and not self._pusher.done():
            self._push_again = True
            return
        self._pusher = asyncio.create_task(self._push(why), name=f"{self.device_id} profiles")

    async def _push(self, why: str) -> None:
        self._push_again = True
        while self._push_again:
            self._push_again = False
            try:
                await self._apply()
            except DriverError as exc:
                self._failed(exc)  # logged on edges and counted, as a failed write
                log.debug("%s: profiles not applied after %s", self.device_id, why)

    async def _apply(self) -> None:
        """Send every profile of the newest limit; each must be accepted."""
        async with self._lock:
            limit = self.limit_kw
            if limit is None:
                return
            self.synced = False
            for spec in profiles_for(limit, self.station.transactions()):
                await self._send(spec)
            self.synced = self.limit_kw == limit

    async def _send(self, spec: ProfileSpec) -> None:
        session = self.session
        what = f"SetChargingProfile {spec.describe()}"
        self.stats.requests += 1
        if session is None:
            raise DeviceConnectionError(self.device_id, f"{what} not sent: not connected")
        try:
            answer = await session.call(_profile_request(spec, self.clock()), suppress=False)
        except TimeoutError as exc:
            raise DeviceTimeoutError(
                self.device_id, f"{what} not answered within {self.timeout_s:g} s"
            ) from exc
        except ConnectionClosed as exc:
            raise DeviceConnectionError(self.device_id, f"{what}: connection lost") from exc
        except (OCPPError, UnknownCallErrorCodeError) as exc:
            code = getattr(exc, "code", type(exc).__name__)
            raise DeviceRejectedError(
                self.device_id, f"{what} answered an error: {code} {exc}"
            ) from exc
        if answer.status != ChargingProfileStatus.accepted:
            raise DeviceRejectedError(self.device_id, f"{what} answered {answer.status}")

    async def close(self) -> None:
        """Stop serving this charge point (its connection closes); idempotent."""
        if self._pusher is not None:
            self._pusher.cancel()
            await asyncio.gather(self._pusher, return_exceptions=True)
            self._pusher = None
        if self.central is not None:
            self.central.drivers.pop(self.device_id, None)
            self.central = None
        if self.session is not None:
            with contextlib.suppress(ConnectionClosed):
                await self.session.connection.close(code=1001, reason="central system closing")


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"
