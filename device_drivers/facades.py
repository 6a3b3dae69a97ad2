"""Typed views of devices by FREEDM type: ``Sst(d).gateway``, ``await Sst(d).set_gateway(4.0)``.

A facade reads the driver's last values (it does no I/O to read) and writes commands through
the driver, so range checks, verification and error handling stay in one place.
"""

from __future__ import annotations

from device_drivers.base import DeviceDriver
from device_drivers.codec import float_bits


class DeviceFacade:
    """Base: the driver and the signal helpers."""

    def __init__(self, driver: DeviceDriver) -> None:
        self.driver = driver

    @property
    def id(self) -> str:
        return self.driver.device_id

    def _flag(self, signal: str) -> bool | None:
        value = self.driver.state(signal)
        return None if value is None else value != 0.0


class Sst(DeviceFacade):
    """Solid-state transformer gateway."""

    @property
    def gateway(self) -> float | None:
        return self.driver.state("gateway")

    async def set_gateway(self, kw: float) -> None:
        """Write PStar, the gateway setpoint."""
        await self.driver.command("gateway", kw)


class Desd(DeviceFacade):
    """Energy storage; ``storage`` > 0 means discharging into the node."""

    @property
    def storage(self) -> float | None:
        return self.driver.state("storage")

    @property
    def soc(self) -> float | None:
        return self.driver.state("soc")

    @property
    def soc_min(self) -> float | None:
        return self.driver.state("soc_min")

    @property
    def soc_max(self) -> float | None:
        return self.driver.state("soc_max")

    async def set_storage(self, kw: float) -> None:
        await self.driver.command("storage", kw)


class Drer(DeviceFacade):
    @property
    def generation(self) -> float | None:
        return self.driver.state("generation")


class Load(DeviceFacade):
    @property
    def drain(self) -> float | None:
        return self.driver.state("drain")


class Logger(DeviceFacade):
    """The lab logger: ``dgi_enable`` gates the node; ``groupStatus`` displays the group."""

    @property
    def dgi_enable(self) -> bool | None:
        return self._flag("dgiEnable")

    async def set_group_status(self, bits: int) -> None:
        """Write the group bit field (as the float with those bits when the point is float32)."""
        point = self.driver.profile.command_point("groupStatus")
        value = float_bits(bits) if point is not None and point.type == "float32" else float(bits)
        await self.driver.command("groupStatus", value)


class Omega(DeviceFacade):
    @property
    def frequency(self) -> float | None:
        return self.driver.state("frequency")


class Fid(DeviceFacade):
    @property
    def closed(self) -> bool | None:
        return self._flag("state")


class Evse(DeviceFacade):
    """EV charger."""

    @property
    def power(self) -> float | None:
        return self.driver.state("power")

    @property
    def connected(self) -> bool | None:
        return self._flag("connected")

    async def set_power_limit(self, kw: float) -> None:
        await self.driver.command("power_limit", kw)


FACADES: dict[str, type[DeviceFacade]] = {
    "Sst": Sst,
    "Desd": Desd,
    "Drer": Drer,
    "Load": Load,
    "Logger": Logger,
    "Omega": Omega,
    "Fid": Fid,
    "Evse": Evse,
}


def facade_for(driver: DeviceDriver) -> DeviceFacade:
    """The typed facade for a driver's device type."""
    return FACADES[driver.profile.device_type](driver)
