"""A toy substation for virtual time (pure): the SST's held setpoint, its gateway following it
with a first-order lag, a net generation the caller sets, its Fids; and how long a device
read or write takes. :class:`~controller.virtual.group.VirtualGroup` runs these, or a site's
plant (:mod:`controller.sim.node_plant`), or another simulator's (:mod:`controller.cosim.
external`), behind the same face (:class:`NodeDevices`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from controller.core.readings import Readings


class NodeDevices(Protocol):
    """What a virtual node's rounds and writes see of its devices."""

    fids: dict[str, bool]

    def advance(self, now: float) -> None: ...

    def readings(self, read_mark: float) -> Readings: ...

    @property
    def pstar(self) -> float:
        """The setpoint the actuator holds."""
        ...

    @pstar.setter
    def pstar(self, value: float) -> None: ...

    @property
    def gateway(self) -> float: ...

    @property
    def net_generation(self) -> float: ...

    def set_fid(self, fid: str, closed: bool) -> None: ...


@dataclass(frozen=True)
class DeviceTiming:
    """Latency of one device read and one write, drawn uniformly from (low, high) seconds."""

    read_s: tuple[float, float] = (0.0, 0.0)
    write_s: tuple[float, float] = (0.0, 0.0)

    @property
    def instant(self) -> bool:
        return self.read_s == (0.0, 0.0) and self.write_s == (0.0, 0.0)


@dataclass
class Substation:
    """The toy plant of one node: the SST's held setpoint, its gateway, the net generation."""

    pstar: float
    gateway: float
    net_generation: float
    lag_s: float = 0.0
    rating: float = 1000.0
    at: float = 0.0
    fids: dict[str, bool] = field(default_factory=dict)  # its Fid switches: True = closed

    def advance(self, now: float) -> None:
        dt = max(0.0, now - self.at)
        self.at = max(self.at, now)
        if self.lag_s <= 0:
            self.gateway = self.pstar
        else:
            self.gateway += (self.pstar - self.gateway) * (1 - math.exp(-dt / self.lag_s))

    def set_fid(self, fid: str, closed: bool) -> None:
        self.fids[fid] = closed

    def readings(self, read_mark: float) -> Readings:
        return Readings(
            gateway=self.gateway,
            generation=self.net_generation,
            counts={"Sst": 1, "Drer": 1},
            pstar=self.pstar,
            pstar_min=-self.rating,
            pstar_max=self.rating,
            setpoint=self.pstar,
            setpoint_readable=True,
            setpoint_read_mark=read_mark,
            gateway_read_mark=read_mark,
            fids=tuple(sorted(self.fids.items())),
        )
