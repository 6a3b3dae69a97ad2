"""Virtual time agrees with real processes: a shipped scenario run by ``dgi sim``'s engine
in-process, and the same site as ``dgi simulate`` plus one ``dgi run`` per node on loopback
(:class:`~tests.system.lab.Lab`), with the scenario's events replayed at their times. Both
must end at the same balance and go through the same group changes.

*Balance.* Each node's final gateway, read over Modbus by the :class:`Observer`, against the
virtual run's last sample; in the 2012 script also before each step whose virtual sample
just before it was balanced (all but the Fids' closing), the nodes that run. Both runs must end balanced — every node within the site's
``tolerance`` (the adaptive band) of its net generation — and the net generations must be
the same (the replay set the same plant; compared to 1 W), so the gateways differ by at most
twice the band (0.1 kW for both sites), plus :data:`REGISTERS_KW` for the float32 registers
and rounding.

*Group changes.* The same rule on both sides (:mod:`controller.sim.partitions`): at each
instant the running nodes grouped by the ``(group id, leader)`` they report — the virtual
run's samples, every 0.25 s; the real nodes' ``/api/v1/status``, polled every
:data:`POLL_S` (a node killed, or not answering yet, is in no group, as a crashed virtual
node) — collapsed into spans; spans shorter than :data:`SETTLED_S` are transients (the
moments while the nodes disagree during a change: a restarted node alone until it is
invited, the survivors of a leader each alone until one invites the other; they last under a
GM cycle in virtual time, two or so for real processes): one between two spans of one
partition joins them, the others are dropped (:func:`~controller.sim.partitions.settled`);
the sequences compared from the first group of every node on. Before that the two differ by construction: virtual nodes boot
at one instant, real processes seconds apart.

The real timeline is the virtual one shifted so that the first whole groups coincide; it is
not compressed (GM's timers are real seconds: a compressed script would give the groups no
time to re-form). After the events of an instant that changed the virtual run's groups, the
replay waits (bounded) until the real nodes show the same partition, and when that came
later than in virtual time, what follows is shifted as much: a restarted ``dgi run`` takes
seconds to start on a loaded machine, and without the shift the phase after it could end
before it settled (measured: 2.4 s of a whole group between sst1's return and sst3's
isolation, under two parallel labs). So every phase lasts at least as long as in virtual
time and the order of events is the scenario's. A wait is bounded everywhere; every process
is stopped by the ``processes`` fixture.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path

import httpx
import pytest

from controller.cli.fault_cmd import send
from controller.sim.engine import Engine
from controller.sim.events import (
    CrashEvent,
    FidCloseEvent,
    FidOpenEvent,
    GatewaySetpointEvent,
    LoadEvent,
    RestartEvent,
    ScenarioEvent,
)
from controller.sim.partitions import (
    Observation,
    Partition,
    Span,
    of_samples,
    settled,
    show,
    since,
    spans,
    whole,
)
from controller.sim.record import Sample
from controller.sim.scenario import Scenario, load_scenario
from tests.conftest import ROOT
from tests.system.lab import Lab, Observer, until

pytestmark = pytest.mark.timeout(300)

POLL_S = 0.2
CYCLE_S = 1.24  # fast-5: GM 160 + SC 80 + LB 1000 ms
# Longer than a change's transients — under a GM cycle in virtual time; up to 2.8 s measured
# for real processes on a loaded two-core machine (a restarted node alone: its first GM
# phase at a cycle boundary, then the invitation) — and shorter than the scenarios' shortest
# intended partition: 6 s from a crash to its restart, less the detection (0.5 s virtual).
SETTLED_S = 3 * CYCLE_S + 0.5
REGISTERS_KW = 0.01  # float32 registers, the SST's lag, rounding


def virtual(name: str) -> tuple[Scenario, list[Sample]]:
    """The shipped scenario ``name`` in virtual time: its samples."""
    scenario, issues = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    assert scenario is not None, issues
    timings = scenario.site.timings
    cycle_ms = timings.GM_PHASE_TIME + timings.SC_PHASE_TIME + timings.LB_PHASE_TIME
    assert cycle_ms / 1000 == CYCLE_S, f"{name}: a {cycle_ms} ms cycle, not fast-5's"
    samples: list[Sample] = []
    summary = Engine(scenario, samples.append).run()
    assert summary.converged, summary
    return scenario, samples


def sequence(observations: list[tuple[float, Observation]], nodes: tuple[str, ...]) -> list[str]:
    """The settled partitions from the first whole group on, shown (every span printed: pytest
    shows them when a test fails)."""
    for span in spans(observations):
        print(f"{span.start:7.2f} {span.length:6.2f} s  {show(span.partition)}")
    return [show(p) for p in settled(since(spans(observations), whole(nodes)), SETTLED_S)]


@dataclass
class Watch:
    """Polls every node's status in the background: ``(t, observation)``, t in seconds since
    ``t0`` (the test's clock)."""

    lab: Lab
    nodes: tuple[str, ...]
    t0: float = field(default_factory=time.monotonic)
    seen: list[tuple[float, Observation]] = field(default_factory=list)

    async def view(self, client: httpx.AsyncClient, node: str) -> tuple[str, str] | None:
        if node not in self.lab.nodes:
            return None  # killed: not running
        try:
            answer = await client.get(f"http://{self.lab.site.node(node).api}/api/v1/status")
            status = answer.json()
            return (status["group_id"], status["leader"])
        except (httpx.HTTPError, ValueError, KeyError):
            return None  # starting: not answering yet

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                views = await asyncio.gather(*(self.view(client, n) for n in self.nodes))
                observation = dict(zip(self.nodes, views, strict=True))
                self.seen.append((time.monotonic() - self.t0, observation))
                await asyncio.sleep(POLL_S)

    def partition(self) -> Partition | None:
        return spans(self.seen[-1:])[0].partition if self.seen else None

    async def shows(self, partition: Partition, within_s: float) -> None:
        await until(lambda: self.partition() == partition, within_s, show(partition))

    def held(self, partition: Partition, for_s: float) -> bool:
        """Whether the last span is ``partition`` and has lasted ``for_s``."""
        observed = spans(self.seen)
        last = observed[-1] if observed else None
        return last is not None and last.partition == partition and last.length >= for_s


async def figures(observer: Observer) -> dict[str, tuple[float, float]]:
    """Per node, read over Modbus: (gateway, net generation = generation + storage - drain),
    the devices found by type (:meth:`Observer.figures` knows three-substations' names)."""
    await observer.read()
    signs = {"Drer": ("generation", 1.0), "Desd": ("storage", 1.0), "Load": ("drain", -1.0)}
    out = {}
    for node in observer.site.nodes:
        gateway, net = 0.0, 0.0
        for device in observer.site.devices_of(node.id):
            driver = observer.drivers.get(device.id)
            if driver is None:
                continue
            if device.type == "Sst":
                gateway = driver.state("gateway") or 0.0
            elif device.type in signs:
                state, sign = signs[device.type]
                net += sign * (driver.state(state) or 0.0)
        out[node.id] = (gateway, net)
    return out


def virtually_balanced(sample: Sample, band: float) -> bool:
    return all(abs(n.gateway - n.net_generation) <= band for n in sample.nodes if n.up)


async def balanced(observer: Observer, band: float, nodes: Sequence[str] | None = None) -> bool:
    """Whether every node of ``nodes`` (default: all) is within ``band`` of its NG."""
    real = await figures(observer)
    return all(abs(g - ng) <= band for n, (g, ng) in real.items() if nodes is None or n in nodes)


async def balanced_as(observer: Observer, sample: Sample, band: float) -> None:
    """Wait (bounded) until the real nodes that run in ``sample`` balance; compare them."""
    up = [n.node for n in sample.nodes if n.up]
    await until(lambda: balanced(observer, band, up), 15, f"balanced as at {sample.t} s")
    await compare_balance(observer, sample, band)


async def compare_balance(observer: Observer, sample: Sample, band: float) -> None:
    """The real gateways and net generations of the nodes that run against a virtual
    run's ``sample``: each side within ``band`` of the same net generation."""
    real = await figures(observer)
    for row in sample.nodes:
        if row.up:
            gateway, net = real[row.node]
            assert abs(net - row.net_generation) <= 1e-3, (sample.t, row, real)
            assert abs(gateway - row.gateway) <= 2 * band + REGISTERS_KW, (sample.t, row, real)


@asynccontextmanager
async def real_site(
    directory: Path, processes: list[subprocess.Popen[bytes]], scenario: Scenario, example: str
) -> AsyncIterator[tuple[Lab, Watch, Observer]]:
    """The scenario's site as processes, watched from their start, once they form one group."""
    lab = Lab.create(directory, processes, example=example)
    nodes = tuple(n.id for n in scenario.site.nodes)
    lab.start_simulator()
    for node in nodes:
        lab.start_node(node)
    watch = Watch(lab, nodes)
    polling = asyncio.create_task(watch.run())
    observer = Observer(lab.site)
    try:
        await watch.shows(whole(nodes), 60)
        yield lab, watch, observer
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
        await observer.close()


async def ending(lab: Lab, watch: Watch, observer: Observer, last: Sample, held_s: float) -> None:
    """Wait until the real site balances with every node in one group for ``held_s``; its
    balance against the virtual run's ``last`` sample."""
    band = lab.site.algorithm.tolerance
    await until(lambda: balanced(observer, band), 30, "the real site balanced")
    await until(lambda: watch.held(whole(watch.nodes), held_s), 30, "one group held")
    lab.alive()
    await compare_balance(observer, last, band)


def compare_groups(samples: list[Sample], watch: Watch, expected: list[str]) -> None:
    print("virtual time:")
    virtual_sequence = sequence(of_samples(samples), watch.nodes)
    assert virtual_sequence == expected, virtual_sequence
    print("real processes:")
    assert sequence(watch.seen, watch.nodes) == expected


async def test_four_substations_balance_alike_and_form_one_group_that_holds(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    scenario, samples = virtual("four-substations")
    async with real_site(tmp_path, processes, scenario, "four-substations.toml") as real:
        _, watch, _ = real
        # the group holds: watched long enough for a split to show as a settled span
        await ending(*real, samples[-1], 2 * SETTLED_S)
    compare_groups(samples, watch, ["{sst1,sst2,sst3,sst4}"])


async def apply(lab: Lab, observer: Observer, event: ScenarioEvent) -> None:
    """One scenario event on the real site: the plant through the simulator's control
    interface (``dgi fault --plant``'s command), an operator's PStar over Modbus, a crash as
    SIGKILL and a restart as ``dgi run`` again (the same config and state)."""
    host, _, port = lab.control.rpartition(":")
    control = (host, int(port))
    site = lab.site
    if isinstance(event, LoadEvent):
        assert event.kw is not None, "a load profile is not replayed"
        (load,) = [d.id for d in site.devices_of(event.node) if d.type == "Load"]
        answer = send(control, {"op": "plant", "device": load, "states": {"drain": event.kw}})
        assert answer["ok"], answer
    elif isinstance(event, FidOpenEvent | FidCloseEvent):
        state = int(isinstance(event, FidCloseEvent))
        answer = send(control, {"op": "plant", "device": event.fid, "states": {"state": state}})
        assert answer["ok"], answer
    elif isinstance(event, GatewaySetpointEvent):
        (sst,) = [d.id for d in site.devices_of(event.node) if d.type == "Sst"]
        await observer.write(sst, "pstar", event.kw)
    elif isinstance(event, CrashEvent):
        lab.kill_node(event.node)
    elif isinstance(event, RestartEvent):
        lab.start_node(event.node)
    else:
        raise AssertionError(f"{event.kind} events are not replayed on real processes")


def expected_effects(observed: list[Span], events: Sequence[ScenarioEvent]) -> dict[float, Span]:
    """Per instant of the scenario's events: the first settled span of the virtual run that
    began after them (before the next), when there is one — the group change they made."""
    instants = sorted({e.at_s for e in events})
    out = {}
    for at_s, following in zip(instants, [*instants[1:], math.inf], strict=True):
        for span in observed:
            if at_s <= span.start < following and span.length >= SETTLED_S:
                out[at_s] = span
                break
    return out


async def test_freedm_hil_2012_script_replayed_on_real_processes_agrees(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    scenario, samples = virtual("freedm-hil-2012")
    nodes = tuple(n.id for n in scenario.site.nodes)
    (formed,) = since(spans(of_samples(samples)), whole(nodes))[:1]  # the first whole group
    effects = expected_effects(spans(of_samples(samples)), scenario.events)
    async with real_site(tmp_path, processes, scenario, "switched-ring.toml") as real:
        lab, watch, observer = real
        # the real clock: the virtual one shifted so that the first whole groups coincide
        zero = time.monotonic() - formed.start
        band = lab.site.algorithm.tolerance
        compared = []
        for at_s, batch in groupby(scenario.events, key=lambda e: e.at_s):
            await asyncio.sleep(max(0.0, zero + at_s - time.monotonic()))
            before = [s for s in samples if s.t < at_s][-1]
            if virtually_balanced(before, band):  # the step before balanced: so must the real
                await balanced_as(observer, before, band)
                zero = max(zero, time.monotonic() - at_s)
                compared.append(at_s)
            for event in batch:
                await apply(lab, observer, event)
            effect = effects.get(at_s)
            if effect is not None:  # wait for it; what comes later waits as long as it is late
                await watch.shows(effect.partition, 30)
                zero = max(zero, time.monotonic() - effect.start)
        await ending(*real, samples[-1], SETTLED_S)
    # balance compared before every step but the Fids' closing: sst3, isolated, cannot
    # balance the 5 kW moved to it by itself
    assert compared == [15.0, 24.0, 30.0, 36.0, 45.0, 51.0, 60.0, 63.0], compared
    compare_groups(
        samples,
        watch,
        [
            "{sst1,sst2,sst3}",
            "{sst1,sst3}",  # sst2 (a member) killed
            "{sst1,sst2,sst3}",  # and back
            "{sst2,sst3}",  # sst1 (the leader) killed
            "{sst1,sst2,sst3}",  # and back
            "{sst1,sst2} {sst3}",  # sst3's two Fids open
            "{sst1,sst2,sst3}",  # and close
        ],
    )
