"""The HELICS side of a federate: joining the broker, the time loop's bookkeeping, leaving.

This and the two federates (:mod:`controller.cosim.helics_node`,
:mod:`controller.cosim.helics_plant`) are the only modules that import ``helics``; the CLI
imports them when a ``cosim-*`` command runs, so ``dgi`` starts without the library.

Every federate has the same time step (``HELICS_PROPERTY_TIME_PERIOD`` and ``..._DELTA``)
and is uninterruptible: it is granted exactly the step it asks for, and what arrived in the
meantime (values, messages) is handled at that grant. A value or message sent at time t
is seen by the other federates at their grant t + step: a lag of one step each way.

A federate leaves with ``disconnect()`` only — asking for the maximum time before it hung a
federation with messages still in flight (docs/cosim.md).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import helics as h

__all__ = ["BrokerUnreachable", "StepClock", "h", "join", "leave", "message_data", "step_times"]

CORES = ("tcp", "zmq")


class BrokerUnreachable(RuntimeError):
    """The federate could not join the broker within its timeout."""


def parse_broker(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--broker {address!r}: want HOST:PORT (e.g. 127.0.0.1:23500)")
    return host, int(port)


def join(name: str, broker: str, core: str, step_s: float, timeout_s: float) -> Any:
    """A combination federate ``name`` in the federation of the broker at ``broker``."""
    if core not in CORES:
        raise ValueError(f"--core {core!r}: one of {', '.join(CORES)}")
    if not step_s > 0:
        raise ValueError(f"--step {step_s}: must be > 0")
    host, port = parse_broker(broker)
    info = h.helicsCreateFederateInfo()
    info.core_type = core
    network_s = max(0.5, timeout_s / 4)  # one connection attempt (the core makes several)
    info.core_init = (
        f"--federates=1 --broker_address={host} --port={port} --timeout={timeout_s:g}s "
        f"--networktimeout={network_s:g}s"
    )
    info.property[h.HELICS_PROPERTY_TIME_PERIOD] = step_s
    info.property[h.HELICS_PROPERTY_TIME_DELTA] = step_s
    info.flag[h.HELICS_FLAG_UNINTERRUPTIBLE] = True
    info.loglevel = h.HELICS_LOG_LEVEL_WARNING
    try:
        return h.helicsCreateCombinationFederate(name, info)
    except h.HelicsException as exc:
        raise BrokerUnreachable(
            f"federate {name}: no HELICS broker ({core}) at {host}:{port} within "
            f"{timeout_s:g} s ({exc})"
        ) from None


def leave(federate: Any) -> None:
    federate.disconnect()
    h.helicsFederateFree(federate)


@dataclass
class StepClock:
    """Wall time of each co-simulation step (from one grant to the next)."""

    began: float = field(default_factory=time.perf_counter)
    last: float = field(default_factory=time.perf_counter)
    steps: list[float] = field(default_factory=list)

    def tick(self) -> None:
        now = time.perf_counter()
        self.steps.append(now - self.last)
        self.last = now

    def summary(self) -> dict[str, float]:
        steps = sorted(self.steps) or [0.0]
        p95 = steps[min(len(steps) - 1, int(0.95 * len(steps)))]
        return {
            "steps": len(self.steps),
            "wall_s": time.perf_counter() - self.began,
            "step_median_s": statistics.median(steps),
            "step_p95_s": p95,
        }


def step_times(step_s: float, until_s: float) -> list[float]:
    """The grants a federate asks for: step, 2·step, ... up to ``until_s`` (exact multiples)."""
    count = max(1, round(until_s / step_s))
    return [k * step_s for k in range(1, count + 1)]


def message_data(message: Any) -> bytes:
    return bytes(message.raw_data)
