"""Driver errors. Each message names the device, the table and addresses, and the cause:
``desd1 holding[0..9] read timed out after 1.0 s``.
"""

from __future__ import annotations

#: Modbus exception codes and their standard names.
MODBUS_EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class DriverError(Exception):
    """A device operation failed; ``device`` names the device."""

    def __init__(self, device: str, message: str) -> None:
        self.device = device
        super().__init__(f"{device} {message}")


class DeviceConnectionError(DriverError):
    """The link to the device is down (refused, closed, or waiting to reconnect)."""


class DeviceTimeoutError(DriverError):
    """The device did not answer in time."""


class DeviceExceptionError(DriverError):
    """The device answered with a Modbus exception response."""

    def __init__(self, device: str, message: str, code: int) -> None:
        self.code = code
        super().__init__(device, message)


class DeviceValueError(DriverError):
    """The device answered, but with a value that cannot be true: NaN, an infinity, no value
    for a state, or a value outside the point's min..max. The device counts as failing."""


class DeviceRejectedError(DriverError):
    """The device answered a command, and refused it (an OCPP charge point's Rejected or
    NotSupported, or an error answer): nothing changed on the device."""


class DeviceRangeError(DriverError):
    """A command value is outside the point's min..max (nothing was written)."""


class DeviceVerifyError(DriverError):
    """Read-back after a write did not return the written value."""


def describe_exception(code: int) -> str:
    return f"Modbus exception {code} ({MODBUS_EXCEPTIONS.get(code, 'unknown')})"


def span(table: str, address: int, count: int) -> str:
    """``holding[100..101]`` (or ``coil[3]`` for one address)."""
    if count == 1:
        return f"{table}[{address}]"
    return f"{table}[{address}..{address + count - 1}]"
