"""Simulation parameters of a device (its ``sim`` table), one schema per device type.

A value that changes over time is a *series*: a number (constant), ``{ steps = [[t, v], ...] }``
(the value from time t on), ``{ ramp = { start_s, duration_s, start, end } }``, or
``{ csv = "file.csv", column = "kw", scale = 1.0, loop = false }`` (a ``time_s`` column plus
values, interpolated linearly, times ``scale``; two rows at one time make a step). Times are
seconds of profile time: seconds since the simulation started, unless ``[simulation]
time_scale`` and ``profile_start_s`` run the profiles faster or from later.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from config.schema import Model, NonNegative, Positive, in_range


def _percent(value: float) -> float:
    if not 0.0 <= value <= 100.0:
        raise ValueError("must be 0..100 (percent)")
    return value


Percent = Annotated[float, AfterValidator(_percent)]


class Ramp(Model):
    start_s: NonNegative = 0.0
    duration_s: Positive
    start: float
    end: float


class Series(Model):
    """A value over time; exactly one of value, steps, ramp, csv."""

    value: float | None = None
    steps: list[list[float]] | None = None  # [[time_s, value], ...]
    ramp: Ramp | None = None
    csv: str | None = None
    column: str | None = None
    time_column: str = "time_s"
    scale: float = 1.0  # csv: each value times this (a per-kWp PV curve times the kWp)
    loop: bool = False  # csv: start again after the last row (its value should be the first's)

    @model_validator(mode="before")
    @classmethod
    def _number_is_constant(cls, data: Any) -> Any:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return {"value": float(data)}
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Series:
        given = [k for k in ("value", "steps", "ramp", "csv") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of value, steps, ramp, csv")
        if self.steps is not None:
            if not self.steps or any(len(step) != 2 for step in self.steps):
                raise ValueError("steps must be a non-empty list of [time_s, value] pairs")
            times = [step[0] for step in self.steps]
            if times != sorted(times):
                raise ValueError("steps must be a non-empty list of [time_s, value] in time order")
        return self


def constant(value: float) -> Series:
    return Series(value=value)


def _fraction(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError("must be 0..1 (a fraction of the requests)")
    return value


#: A reported value may be anything a broken device sends, NaN and infinities included.
AnyFloat = Annotated[float, Field(allow_inf_nan=True)]


class FaultSettings(Model):
    """What a simulated device does wrong (``sim.faults``; all off by default).

    Link faults (Modbus/TCP): every request waits ``latency_ms`` plus up to ``jitter_ms``;
    then, for a ``rate`` fraction of the requests, the first of ``close`` (the connection is
    closed), ``no_answer`` (the request is swallowed), ``exception`` (a Modbus exception
    response with that code) and ``garbage`` (an answer that is not a Modbus response) that is
    set happens. Value faults (every transport): ``values`` maps point names to what the
    device reports instead of the plant's value — NaN, ±inf or a number out of range.
    """

    latency_ms: NonNegative = 0.0
    jitter_ms: NonNegative = 0.0
    rate: Annotated[float, AfterValidator(_fraction)] = 1.0
    close: bool = False
    no_answer: bool = False
    exception: Annotated[int, AfterValidator(in_range(1, 255))] | None = None
    garbage: bool = False
    values: dict[str, AnyFloat] = Field(default_factory=dict)
    seed: int = 0

    @property
    def active(self) -> bool:
        return self != FaultSettings(seed=self.seed)


class DeviceSim(Model):
    """Fields every simulated device accepts."""

    serve_serial_port: str | None = None  # serve this device as Modbus RTU on this path too
    faults: FaultSettings = FaultSettings()


class SstSim(DeviceSim):
    initial_kw: float = 0.0
    lag_s: NonNegative = 0.0  # first-order time constant of gateway following PStar; 0 = instant
    # follow = true: no local grid — the SST exports whatever its substation nets
    # (generation + storage - drain), the set-up storage actuation needs.
    follow: bool = False


class DesdSim(DeviceSim):
    initial_kw: float = 0.0
    capacity_kwh: Positive = 100.0
    soc: Percent = 50.0
    soc_min: Percent = 10.0
    soc_max: Percent = 90.0
    # the battery's own dispatch (kW, + = discharging) while no node writes its setpoint: a
    # community battery on a day-ahead plan (with actuation = "desd" the first write ends it)
    plan: Series | None = None


class DrerSim(DeviceSim):
    generation: Series = constant(0.0)


class LoadSim(DeviceSim):
    drain: Series = constant(0.0)


class EvseSim(DeviceSim):
    connected: bool = False  # ocpp: a car on every connector
    demand_kw: Series = constant(7.4)  # what a connected car would draw without a limit
    # the power limit at start; ocpp: the station's limit until a ChargePointMaxProfile
    initial_limit_kw: NonNegative = 0.0
    # transport ocpp only (OCPP_KEYS): the simulated charge point
    connectors: Annotated[int, AfterValidator(in_range(1, 64))] = 1
    meter_interval_s: Positive = 1.0  # MeterValues of each connector this often
    reject_profiles: bool = False  # answer every SetChargingProfile Rejected


#: The ``sim`` keys of an Evse that only a simulated OCPP charge point has.
OCPP_KEYS = frozenset({"connectors", "meter_interval_s", "reject_profiles"})
#: The ``sim`` keys an OCPP charge point does not have (it is not served over Modbus).
MODBUS_KEYS = frozenset({"serve_serial_port", "faults"})


class LoggerSim(DeviceSim):
    dgi_enable: bool = True


class OmegaSim(DeviceSim):
    pass


class FidSim(DeviceSim):
    closed: bool = True


class MeterSim(DeviceSim):
    """A grid meter's values come from the grid plant's power flow (``--plant pandapower``)."""


#: The ``sim`` table schema for each device type.
SIM_SCHEMAS: dict[str, type[DeviceSim]] = {
    "Sst": SstSim,
    "Desd": DesdSim,
    "Drer": DrerSim,
    "Load": LoadSim,
    "Evse": EvseSim,
    "Logger": LoggerSim,
    "Omega": OmegaSim,
    "Fid": FidSim,
    "Meter": MeterSim,
}
