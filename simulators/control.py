"""The control interface of ``dgi simulate``: change faults while the site runs.

One JSON object per line over TCP (loopback by default), one JSON answer per line::

    {"op": "set", "device": "sst2-gateway", "faults": {"latency_ms": 30, "jitter_ms": 20}}
    {"op": "clear", "device": "sst2-gateway"}          # or "device": "*" for every device
    {"op": "restart", "device": "sst1-gateway"}        # reboot: initial values, connections drop
    {"op": "stop", "device": "sst1-load"}              # its server goes away (refused)
    {"op": "start", "device": "sst1-load"}             # and comes back
    (an OCPP charge point: stop drops its connection and keeps it away; start lets it connect)
    {"op": "plant", "device": "sst2-fid", "states": {"state": 0}}  # the plant changes: a Fid opens
    {"op": "show"}                                     # every device's faults and counters

Answers are ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``; a bad line gets an
error answer and the connection stays open. NaN and infinities travel as JSON's ``NaN``,
``Infinity`` and ``-Infinity`` (Python's ``json`` reads and writes them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from simulators.faults import FaultError
from simulators.modbus_server import ServeError

if TYPE_CHECKING:
    from simulators.runner import Simulation

log = logging.getLogger(__name__)

MAX_LINE = 65536
Json = dict[str, Any]


class ControlServer:
    """Serves the control protocol for one :class:`~simulators.runner.Simulation`."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.server: asyncio.Server | None = None
        self.host = ""
        self.port = 0
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(
            self._serve, host, port, limit=MAX_LINE, reuse_address=True
        )
        self.host, self.port = self.server.sockets[0].getsockname()[:2]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for writer in list(self._clients):
                writer.transport.abort()
            await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than MAX_LINE
                    answer: Json = {"ok": False, "error": f"line longer than {MAX_LINE} bytes"}
                    writer.write(json.dumps(answer).encode() + b"\n")
                    break
                if not line:
                    break
                answer = await self.handle(line)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._clients.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def handle(self, line: bytes) -> Json:
        """One command in, one answer out; never raises."""
        try:
            command = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"not JSON: {exc}"}
        if not isinstance(command, dict):
            return {"ok": False, "error": "a command is a JSON object"}
        op = command.get("op")
        handler = OPS.get(op) if isinstance(op, str) else None
        if handler is None:
            return {"ok": False, "error": f"op must be one of {', '.join(OPS)} (got {op!r})"}
        try:
            answer = await handler(self.sim, command)
        except (KeyError, FaultError, ServeError) as exc:
            return {"ok": False, "error": str(exc.args[0] if exc.args else exc)}
        log.info("control: %s", json.dumps(command))
        return {"ok": True, **answer}


def _device(sim: Simulation, command: Json) -> str:
    device = command.get("device")
    if not isinstance(device, str):
        raise KeyError("'device' must name a simulated device")
    sim.require(device)  # raises KeyError naming the known devices
    return device


async def _set(sim: Simulation, command: Json) -> Json:
    device = _device(sim, command)
    changes = command.get("faults")
    if not isinstance(changes, dict):
        raise FaultError("'faults' must be an object of fault settings")
    sim.faults(device).update(changes)
    return {"device": device, "faults": sim.faults(device).as_dict()}


async def _clear(sim: Simulation, command: Json) -> Json:
    devices = list(sim.images) if command.get("device") == "*" else [_device(sim, command)]
    for device in devices:
        sim.faults(device).clear()
    return {"cleared": devices}


async def _restart(sim: Simulation, command: Json) -> Json:
    device = _device(sim, command)
    sim.restart_device(device)
    return {"restarted": device}


async def _stop(sim: Simulation, command: Json) -> Json:
    device = _device(sim, command)
    await sim.stop_server(device)
    return {"stopped": device, "endpoint": sim.endpoint(device)}


async def _start(sim: Simulation, command: Json) -> Json:
    device = _device(sim, command)
    await sim.restart_server(device)
    return {"started": device, "endpoint": sim.endpoint(device)}


async def _plant(sim: Simulation, command: Json) -> Json:
    device = _device(sim, command)
    states = command.get("states")
    if not isinstance(states, dict) or not states:
        raise FaultError("'states' must be an object of the device's states and their values")
    held = {signal: sim.set_state(device, str(signal), v) for signal, v in states.items()}
    return {"device": device, "states": held}


async def _show(sim: Simulation, command: Json) -> Json:
    return {"devices": {d: image.faults.as_dict() for d, image in sim.images.items()}}


OPS = {
    "set": _set,
    "clear": _clear,
    "restart": _restart,
    "stop": _stop,
    "start": _start,
    "plant": _plant,
    "show": _show,
}
