"""What a central system knows about one OCPP 1.6 charge point, and what it sends it (pure).

The OCPP driver (:mod:`device_drivers.ocpp`) feeds each request of a charge point into a
:class:`ChargePointState` — ``StatusNotification``, ``Start/StopTransaction``, ``MeterValues``,
``Heartbeat`` — with the time it came; the state answers what the node reads:

* ``power`` (kW): the sum of the newest ``Power.Active.Import`` of connectors 1..N; when only
  connector 0 (the whole charge point) reports power, its value. A connector without a
  transaction, or whose transaction stopped, draws 0 until it reports again.
* ``connected``: a connector (not 0) is in Preparing, Charging, SuspendedEV, SuspendedEVSE or
  Finishing, or has a transaction.

Transactions outlive connections: a charge point that reconnects (or a node that restarted
while it charged) sends MeterValues with its transaction id, which is taken up if unknown.
A BootNotification ends them: the charge point restarted.

A power limit becomes profiles (:func:`profiles_for`): a ``ChargePointMaxProfile`` on
connector 0 with the whole limit (the station cap) and a ``TxProfile`` per active transaction
with an equal share of it, all absolute, in W, one period from now, at :data:`STACK_LEVEL`.

Meter values arrive as OCPP sends them (keys in snake_case, as the ``ocpp`` library hands
them over): ``[{"timestamp": ..., "sampled_value": [{"value": "7400", "measurand":
"Power.Active.Import", "unit": "W"}, ...]}]``. A sampled value without a measurand is the
energy register (OCPP's default); values at ``location = "EV"`` are the car's, not the meter's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

POWER = "Power.Active.Import"
ENERGY = "Energy.Active.Import.Register"
#: Connector statuses in which a vehicle is plugged in.
PLUGGED = frozenset({"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"})
#: The stack level of the profiles the node sets (above 0, where a charger's defaults sit).
STACK_LEVEL = 1
#: Profile ids: the station cap, and the transaction profile of connector N is TX_PROFILE + N.
STATION_PROFILE = 1
TX_PROFILE = 100

#: Units of the measurands read, to kW (power) and Wh (energy); W and Wh are OCPP's defaults.
_POWER_UNITS = {"W": 0.001, "kW": 1.0}
_ENERGY_UNITS = {"Wh": 1.0, "kWh": 1000.0}
_PHASES = (frozenset({"L1", "L2", "L3"}), frozenset({"L1-N", "L2-N", "L3-N"}))


def ocpp_time(now: float) -> str:
    """``2026-05-01T12:00:00Z``: OCPP's UTC timestamps (``now`` in Unix seconds)."""
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class MeterError(ValueError):
    """A sampled value that cannot be read: not a number, or in a unit we do not know."""


@dataclass
class Connector:
    """One connector as its charge point last reported it."""

    status: str = "Unknown"
    error_code: str = "NoError"
    transaction_id: int | None = None
    meter_start_wh: int | None = None
    power_kw: float | None = None  # None: never reported
    energy_wh: float | None = None

    @property
    def plugged(self) -> bool:
        return self.status in PLUGGED or self.transaction_id is not None


@dataclass(frozen=True)
class ProfileSpec:
    """One ``SetChargingProfile`` to send: where, which purpose, and the limit in W."""

    connector_id: int
    purpose: str  # "ChargePointMaxProfile" or "TxProfile"
    profile_id: int
    limit_w: float
    transaction_id: int | None = None

    def describe(self) -> str:
        tx = f" (transaction {self.transaction_id})" if self.transaction_id is not None else ""
        return f"{self.purpose} {self.limit_w / 1000:g} kW on connector {self.connector_id}{tx}"


def profiles_for(limit_kw: float, transactions: Sequence[tuple[int, int]]) -> list[ProfileSpec]:
    """The profiles that make a charge point draw at most ``limit_kw``: the station cap on
    connector 0, and an equal share per active ``(connector, transaction)``."""
    limit_w = round(limit_kw * 1000.0, 1)  # OCPP 1.6 allows one decimal
    specs = [ProfileSpec(0, "ChargePointMaxProfile", STATION_PROFILE, limit_w)]
    if transactions:
        share = math.floor(limit_w / len(transactions) * 10) / 10  # the shares fit the cap
        specs += [
            ProfileSpec(connector, "TxProfile", TX_PROFILE + connector, share, transaction)
            for connector, transaction in sorted(transactions)
        ]
    return specs


def _number(sample: Mapping[str, Any]) -> float:
    text = sample.get("value")
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise MeterError(f"sampled value {text!r} is not a number") from None
    return value


def _scale(sample: Mapping[str, Any], units: Mapping[str, float], default: str) -> float:
    unit = sample.get("unit") or default
    if unit not in units:
        measurand = sample.get("measurand") or ENERGY
        raise MeterError(f"{measurand} in {unit!r}: expected {' or '.join(units)}")
    return units[unit]


def _of(sample_values: Sequence[Mapping[str, Any]], measurand: str) -> list[Mapping[str, Any]]:
    return [
        s
        for s in sample_values
        if (s.get("measurand") or ENERGY) == measurand
        and s.get("location", "Outlet") == "Outlet"
        and s.get("format", "Raw") == "Raw"
    ]


def sampled(
    meter_values: Sequence[Mapping[str, Any]], measurand: str, units: Mapping[str, float]
) -> float | None:
    """The newest value of ``measurand`` in a MeterValues request, times its unit's factor
    in ``units`` (None: not reported). A value without a phase is the total; without one,
    the phases L1..L3 (or L1-N..L3-N) are summed."""
    default = "W" if measurand == POWER else "Wh"
    for meter_value in reversed(meter_values):
        found = _of(meter_value.get("sampled_value") or [], measurand)
        if not found:
            continue
        totals = [s for s in found if not s.get("phase")]
        if totals:
            return _number(totals[-1]) * _scale(totals[-1], units, default)
        for phases in _PHASES:
            parts = [s for s in found if s.get("phase") in phases]
            if parts:
                return sum(_number(s) * _scale(s, units, default) for s in parts)
    return None


def power_kw(meter_values: Sequence[Mapping[str, Any]]) -> float | None:
    return sampled(meter_values, POWER, _POWER_UNITS)


def energy_wh(meter_values: Sequence[Mapping[str, Any]]) -> float | None:
    return sampled(meter_values, ENERGY, _ENERGY_UNITS)


@dataclass
class ChargePointState:
    """The central system's view of one charge point; every method takes the time it is at."""

    connectors: dict[int, Connector] = field(default_factory=dict)
    last_heard: float | None = None  # the last MeterValues or Heartbeat
    booted_at: float | None = None
    vendor: str = ""
    model: str = ""
    meter_problem: str | None = None  # the last MeterValues could not be read: why
    next_transaction: int = 1

    def connector(self, connector_id: int) -> Connector:
        return self.connectors.setdefault(connector_id, Connector())

    def boot(self, vendor: str, model: str, now: float) -> None:
        """The charge point (re)started: the transactions it ran are over (a StopTransaction
        it still sends for one is acknowledged; MeterValues naming one take it up again)."""
        self.vendor, self.model, self.booted_at = vendor, model, now
        for connector in self.connectors.values():
            connector.transaction_id = None
            connector.power_kw = 0.0 if connector.power_kw is not None else None

    def heartbeat(self, now: float) -> None:
        self.last_heard = now

    def status(self, connector_id: int, status: str, error_code: str) -> None:
        connector = self.connector(connector_id)
        connector.status, connector.error_code = status, error_code
        if status == "Available" and connector.power_kw is not None:
            connector.power_kw = 0.0  # nothing plugged in draws nothing

    def start_transaction(self, connector_id: int, meter_start_wh: int) -> int:
        """A new transaction on ``connector_id``; its id (unique within this charge point)."""
        taken = {c.transaction_id for c in self.connectors.values()}
        while self.next_transaction in taken:
            self.next_transaction += 1
        transaction = self.next_transaction
        self.next_transaction += 1
        connector = self.connector(connector_id)
        connector.transaction_id, connector.meter_start_wh = transaction, meter_start_wh
        return transaction

    def stop_transaction(self, transaction_id: int, meter_stop_wh: int) -> int | None:
        """End a transaction; the connector it ran on (None: not known here)."""
        for connector_id, connector in self.connectors.items():
            if connector.transaction_id == transaction_id:
                connector.transaction_id = None
                connector.power_kw = 0.0
                connector.energy_wh = float(meter_stop_wh)
                return connector_id
        return None

    def meter_values(
        self,
        connector_id: int,
        transaction_id: int | None,
        meter_values: Sequence[Mapping[str, Any]],
        now: float,
    ) -> bool:
        """Take a MeterValues request; True when it names a transaction not known before
        (taken up: the charge point charged on while this node did not know it)."""
        connector = self.connector(connector_id)
        adopted = transaction_id is not None and connector.transaction_id != transaction_id
        if adopted:
            for other in self.connectors.values():  # a transaction runs on one connector
                if other.transaction_id == transaction_id:
                    other.transaction_id = None
            connector.transaction_id = transaction_id
        try:
            power, energy = power_kw(meter_values), energy_wh(meter_values)
        except MeterError as exc:
            self.meter_problem = f"connector {connector_id}: {exc}"
        else:
            self.meter_problem = None
            connector.power_kw = power if power is not None else connector.power_kw
            connector.energy_wh = energy if energy is not None else connector.energy_wh
        self.last_heard = now
        return adopted

    def transactions(self) -> list[tuple[int, int]]:
        """The active ``(connector, transaction)`` pairs."""
        return sorted(
            (c, conn.transaction_id)
            for c, conn in self.connectors.items()
            if conn.transaction_id is not None
        )

    @property
    def power_kw(self) -> float:
        outlets = [
            c.power_kw for i, c in self.connectors.items() if i > 0 and c.power_kw is not None
        ]
        if outlets:
            return sum(outlets)
        station = self.connectors.get(0)
        return station.power_kw if station is not None and station.power_kw is not None else 0.0

    @property
    def connected(self) -> bool:
        return any(c.plugged for i, c in self.connectors.items() if i > 0)
