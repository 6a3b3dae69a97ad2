"""The built-in plant: the simulators' plant model (:mod:`simulators.plant`) over the cells.

``[plant]`` (:mod:`hil.extensions`) turns every device of the cells it does not exclude into
a device of a :class:`~simulators.plant.Plant`, built by the same model builders as
``dgi simulate`` (:data:`simulators.site_plant.MODEL_BUILDERS`, from the device's sim table and
profile). The cells and the plant meet in two places only:

* a **command** written into a cell of a plant device (a controller's rtds packet, a Modbus
  write, ``RST``) reaches the plant at once, through :meth:`Cells.subscribe`; so does a state
  written from outside that a lab may set (``dgiEnable``, a load's drain, ...: the states
  :data:`simulators.runner.SETTABLE_STATES` names), as the plant's override;
* every ``tick_s`` the plant advances to the wall clock and every state its models hold is
  written into its cell (a cell that changed only, so listeners hear changes), including states
  no adapter carries (a battery's ``soc_min``), which a Modbus exposure then serves.

The tick is the server's only timer; without ``[plant]`` nothing here runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

from config.site import Device, DeviceEntry
from hil.cells import NO_VALUE, Cells, Key, Table
from hil.extensions import PlantDevice, PlantSettings
from simulators.plant import Plant
from simulators.plant import PlantDevice as ModelDevice
from simulators.runner import SETTABLE_STATES
from simulators.site_plant import MODEL_BUILDERS, Sources

log = logging.getLogger("hil.plant")


def site_device(device: PlantDevice) -> Device:
    """The plant device as a site's simulated device (what the model builders take)."""
    entry = DeviceEntry(
        id=device.device, type=device.type, transport="simulated", profile=device.profile.name
    )
    return Device(device.node, entry, device.profile, device.sim)


def build_plant(settings: PlantSettings, *, start: float = 0.0) -> Plant:
    """The simulators' plant of ``settings``' devices."""
    sources = Sources(Path(settings.base), settings.time_scale, settings.profile_start_s)
    devices = [
        ModelDevice(d.device, d.node, d.type, MODEL_BUILDERS[d.type](site_device(d), sources))
        for d in settings.devices
    ]
    return Plant(
        devices,
        nominal_frequency=settings.nominal_frequency,
        droop=settings.droop,
        start=start,
    )


class CellPlant:
    """A plant bound to cells: commands in as they are written, states out every tick."""

    def __init__(
        self,
        settings: PlantSettings,
        cells: Cells,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.cells = cells
        self._clock = clock
        self._t0 = clock()
        self.plant = build_plant(settings)
        self.ticks = 0
        self._writing = False
        self._task: asyncio.Task[None] | None = None
        for key, value in list(cells.commands.items()):  # initial values of the file
            self._heard("command", key, value)
        cells.subscribe(self._heard)
        self.publish()

    def now(self) -> float:
        """Seconds since the plant started."""
        return self._clock() - self._t0

    def start(self) -> None:
        """Start ticking (on the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
            log.info(
                "plant: %d device(s), one step every %g s",
                len(self.settings.devices), self.settings.tick_s,
            )  # fmt: skip

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def tick(self) -> None:
        """Advance the plant to now and write its states into the cells."""
        self.plant.advance(self.now())
        self.publish()
        self.ticks += 1

    def publish(self) -> None:
        """Every state of every model into its cell (the changed ones)."""
        self._writing = True
        try:
            for device in self.plant.devices.values():
                for signal, value in device.model.states.items():
                    key = (device.device_id, signal)
                    if self.cells.states.get(key) != value:
                        self.cells.set_state(key, value)
        finally:
            self._writing = False

    async def _run(self) -> None:
        period = self.settings.tick_s
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            next_at += period
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            try:
                self.tick()
            except Exception:  # a model that breaks must not end the server; say so
                log.exception("plant: a step failed")
            if loop.time() - next_at > period:  # far behind (a suspended process): catch up once
                next_at = loop.time()

    def _heard(self, table: Table, key: Key, value: float) -> None:
        device, signal = key
        if self._writing or device not in self.plant.devices or value == NO_VALUE:
            return
        if not math.isfinite(value):
            log.warning("plant: %s %s = %r ignored (not a finite number)", device, signal, value)
            return
        kind = self.plant.devices[device].type
        if table == "command":
            self.plant.command(device, signal, value)
        elif signal in SETTABLE_STATES.get(kind, ()):
            self.plant.override(device, signal, value)
