"""A group of nodes in virtual time: the real node cores, wire stage and in-memory network
around a plant — a toy one per node (:class:`Substation`), or the simulators' plant of a
whole site (:func:`controller.sim.site_group.site_group`, :mod:`controller.sim.node_plant`;
``dgi sim``).
Deterministic for a seed; used by the scenario simulator, randomized tests, benchmarks and
experiments that need many runs quickly.

A toy substation's gateway follows the setpoint its SST holds (first-order lag, 0 = instant)
and its net generation is set by the caller. Phases and rounds follow the site's timings
exactly as a real node's scheduler would.

Device I/O takes time, as it does in a lab (:class:`DeviceTiming`): a round's read is sent,
samples the device halfway through its latency and reaches the core at the end of it; a
write reaches the device halfway and is acknowledged at the end; writes are coalesced like
the runtime's actuator (the newest command is written next). So a read can be sampled before
a write lands and arrive after it is acknowledged — the race a node must survive. A device
can also be restarted (its setpoint back to the initial value) behind the node's back.

A node's clock may be off (``clock_offsets``): it then runs its phases on its own time and
stamps its datagrams with it, as a node on a host without NTP would.

A node can crash (:meth:`VirtualGroup.crash`: as SIGKILL, no failsafe write; what it sent
is still on the network, a write already on its way still lands) and restart
(:meth:`VirtualGroup.restart`: a new process — a new boot epoch, a new core — that takes up
the journal its previous process stored, as ``dgi run`` does from its state directory).

With a physical topology (``topology``) each node reads the Fids the topology gives it, all
closed at the start; :meth:`VirtualGroup.set_fid` opens or closes one.

Messages go on the plain channel by default (:mod:`controller.peer.posted`): unsealed, with
the header a datagram has, checked by the receiving wire as a datagram's header is, through
the same faulty network — the same fault draws for a seed, the same drops of duplicates and
late deliveries — without the HMAC, msgpack and value checks that take most of a run's time.
``full_wire=True`` runs every message through the real wire, sealed and opened.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from config.timings import PROFILES, Timings
from config.topology import Topology
from controller.assembly import CoreSpec, assemble
from controller.core.effects import (
    Answer,
    Effect,
    Note,
    SetPStar,
    StoreSession,
    TimerKey,
)
from controller.core.executor import execute
from controller.core.node_core import NodeCore
from controller.core.phases import PhasePlan
from controller.core.readings import Readings
from controller.gm.settings import GmSettings
from controller.lb.core import LoadBalancer
from controller.lb.journal import Journal
from controller.lb.settings import LbSettings
from controller.lb.tier import feeder_anchors
from controller.peer.keys import Keyring
from controller.peer.posted import Posted
from controller.peer.transport import Faults, InMemoryNetwork, InMemoryTransport
from controller.sc.core import ScSettings
from controller.virtual.substation import DeviceTiming, NodeDevices, Substation

__all__ = ["TEST_KEYRING", "DeviceTiming", "Substation", "VirtualGroup", "VirtualNode"]

if TYPE_CHECKING:  # a site's plant (controller.sim) reads its series files: not imported here
    from controller.sim.node_plant import SharedPlant

TEST_KEYRING = Keyring("virtual", {"virtual": bytes(range(32))})
INSTANT = DeviceTiming()  # devices that answer at once
Payload = bytes | Posted  # what the network carries: datagrams (full wire) or posted messages


@dataclass
class VirtualNode:
    core: NodeCore
    plant: NodeDevices
    transport: InMemoryTransport[Payload]
    initial_pstar: float
    timers: dict[TimerKey, int] = field(default_factory=dict)
    reading: bool = False  # a round's read is in flight
    writing: bool = False
    wanted: SetPStar | None = None  # the newest command not yet written
    group_bits: int = 0  # what its Logger's groupStatus shows
    saved: dict[str, Mapping[str, object]] = field(default_factory=dict)  # its state directory
    down: bool = False  # crashed, not restarted yet
    boots: int = 1
    answers: dict[int, Answer] = field(default_factory=dict)  # API answers, by token
    charge_limit_kw: float = 0.0  # what its EV chargers may draw


class VirtualGroup:
    """Nodes ``n1..nN`` on an in-memory network, run in virtual time."""

    def __init__(
        self,
        *,
        gateways: Sequence[float],
        net_generations: Sequence[float],
        settings: LbSettings,
        timings: Timings = PROFILES["fast-5"],
        seed: int = 0,
        faults: Faults | None = None,
        lag_s: float = 0.0,
        start: float = 1_000_000.0,
        devices: DeviceTiming = INSTANT,
        clock_offsets: Mapping[str, float] | None = None,
        group_management: bool = False,
        topology: Topology | None = None,
        full_wire: bool = False,
        feeders: Sequence[Sequence[str]] | None = None,
        anchors: int = 0,
    ) -> None:
        """``feeders``: the nodes of each feeder (each node then knows only its own feeder's);
        ``anchors`` > 0 turns tier 2 on with that many anchors per feeder."""
        self.shared: SharedPlant | None = None  # the simulators' plant (site_group), else toys
        ids = [f"n{i + 1}" for i in range(len(gateways))]
        gm = GmSettings.from_timings(timings) if group_management else None
        feeder_of = _feeders(ids, feeders)
        specs, plants = {}, {}
        for index, (node_id, gateway, ng) in enumerate(
            zip(ids, gateways, net_generations, strict=True)
        ):
            tier = feeder_anchors(feeders, anchors) if feeders and anchors else ()
            specs[node_id] = CoreSpec(node_id, feeder_of[node_id], settings, TEST_KEYRING,
                                      epoch=index + 1, gm=gm,
                                      sc=ScSettings.from_timings(timings), topology=topology,
                                      tier_peers=tier)  # fmt: skip
            plant = Substation(gateway, gateway, ng, lag_s, at=start)
            plant.fids = dict.fromkeys(topology.fids_of(node_id) if topology else (), True)
            plants[node_id] = plant
        self._setup(specs, plants, timings, seed, faults, start, devices, clock_offsets, full_wire)

    @classmethod
    def assembled(
        cls,
        specs: Mapping[str, CoreSpec],
        plants: Mapping[str, NodeDevices],
        timings: Timings,
        *,
        seed: int = 0,
        faults: Faults | None = None,
        start: float = 1_000_000.0,
        devices: DeviceTiming = INSTANT,
        clock_offsets: Mapping[str, float] | None = None,
        full_wire: bool = False,
        shared: SharedPlant | None = None,
    ) -> VirtualGroup:
        """Nodes built from ``specs`` around ``plants`` (a site's: :func:`controller.sim.
        site_group.site_group`, with the ``shared`` plant they are parts of)."""
        group = cls.__new__(cls)
        group.shared = shared
        group._setup(specs, plants, timings, seed, faults, start, devices, clock_offsets, full_wire)
        return group

    def _setup(
        self,
        specs: Mapping[str, CoreSpec],
        plants: Mapping[str, NodeDevices],
        timings: Timings,
        seed: int,
        faults: Faults | None,
        start: float,
        devices: DeviceTiming,
        clock_offsets: Mapping[str, float] | None,
        full_wire: bool,
    ) -> None:
        self.now = start
        self.offsets = dict(clock_offsets or {})
        self.plan = PhasePlan.from_timings(timings)
        self.devices = devices
        self.rng = random.Random(seed + 7919)  # device latencies; the network has its own
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._planned_until = self.plan.next_cycle(start)  # nodes start at a cycle boundary
        self.full_wire = full_wire
        self.network: InMemoryNetwork[Payload] = InMemoryNetwork(
            self.schedule, random.Random(seed), faults or Faults()
        )
        self.notes: list[tuple[float, str, Note]] = []
        self.nodes: dict[str, VirtualNode] = {}
        self._specs = {n: replace(spec, plain=not full_wire) for n, spec in specs.items()}
        for node_id, spec in self._specs.items():
            plant = plants[node_id]
            transport = self.network.endpoint(node_id, self._receiver(node_id))
            self.nodes[node_id] = VirtualNode(assemble(spec), plant, transport, plant.pstar)

    # -- the clock --------------------------------------------------------------------------------

    def schedule(self, delay: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (self.now + delay, next(self._order), callback))

    def run_until(self, end: float) -> None:
        for node_id in self.nodes:
            offset = self.offsets.get(node_id, 0.0)
            for event in self.plan.events(self._planned_until + offset, end + offset):
                tick = self._ticker(node_id, event.kind, event.index)
                heapq.heappush(self._queue, (event.at - offset, next(self._order), tick))
        self._planned_until = max(self._planned_until, end)
        while self._queue and self._queue[0][0] < end:
            at, _, callback = heapq.heappop(self._queue)
            self.now = max(self.now, at)
            callback()
        self.now = end

    def run(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def local(self, node_id: str) -> float:
        """The time on the node's own clock."""
        return self.now + self.offsets.get(node_id, 0.0)

    def _latency(self, span: tuple[float, float]) -> float:
        low, high = span
        return low if high <= low else self.rng.uniform(low, high)

    # -- events -----------------------------------------------------------------------------------

    def _ticker(self, node_id: str, kind: str, index: int) -> Callable[[], None]:
        return lambda: self._tick(node_id, kind, index)

    def _tick(self, node_id: str, kind: str, index: int) -> None:
        node = self.nodes[node_id]
        if node.down:
            return
        if kind == "round":
            self._read(node_id, node)
        else:
            self._apply(node_id, node.core.phase_started(kind, self.local(node_id)))

    def _read(self, node_id: str, node: VirtualNode) -> None:
        """A round: send the read, sample the device, hand the values to the core."""
        if node.reading:
            return  # the runtime skips a round that finds one running
        if self.devices.instant:
            node.plant.advance(self.now)
            local = self.local(node_id)
            self._apply(node_id, node.core.round(node.plant.readings(local), local))
            return
        node.reading = True
        sent, latency = self.local(node_id), self._latency(self.devices.read_s)
        sampled: list[Readings] = []

        def sample() -> None:
            node.plant.advance(self.now)
            sampled.append(node.plant.readings(sent))

        def arrive() -> None:
            node.reading = False
            if node is not self.nodes[node_id] or node.down:
                return  # the process that asked is gone
            self._apply(node_id, node.core.round(sampled[0], self.local(node_id)))

        self.schedule(latency / 2, sample)
        self.schedule(latency, arrive)

    def _receiver(self, node_id: str) -> Callable[[Payload], None]:
        def receive(payload: Payload) -> None:
            node = self.nodes[node_id]
            if node.down:
                return
            if isinstance(payload, Posted):
                self._apply(node_id, node.core.deliver(payload, self.local(node_id)))
            else:
                self._apply(node_id, node.core.datagram(payload, self.local(node_id)))

        return receive

    def _apply(self, node_id: str, effects: list[Effect]) -> None:
        execute(effects, _Host(self, node_id))

    def _write(self, node_id: str, node: VirtualNode) -> None:
        """Write the newest command: it lands halfway, the acknowledgement comes at the end."""
        command = node.wanted
        if command is None:
            return
        node.wanted, node.writing = None, True
        node.core.command_sent(command.seq)
        latency = self._latency(self.devices.write_s)

        def land() -> None:
            node.plant.advance(self.now)
            node.plant.pstar = command.setpoint

        def acknowledge() -> None:
            node.writing = False
            if node is not self.nodes[node_id] or node.down:
                return  # landed on the device; nobody left to hear it
            local = self.local(node_id)
            acked = node.core.command_acked(command.seq, command.setpoint, local, local)
            self._apply(node_id, acked)
            if node.wanted is not None:
                self._write(node_id, node)

        if latency <= 0:
            land()
            acknowledge()
            return
        self.schedule(latency / 2, land)
        self.schedule(latency, acknowledge)

    def _firer(self, node_id: str, key: TimerKey, token: int) -> Callable[[], None]:
        return lambda: self._fire(node_id, key, token)

    def _fire(self, node_id: str, key: TimerKey, token: int) -> None:
        node = self.nodes[node_id]
        if not node.down and node.timers.get(key) == token:
            del node.timers[key]
            self._apply(node_id, node.core.timer(key, self.local(node_id)))

    # -- what tests and benchmarks do and look at -----------------------------------------------

    def set_net_generation(self, node_id: str, value: float) -> None:
        """A toy substation's net generation (a site's comes from its devices' models)."""
        plant = self.nodes[node_id].plant
        if not isinstance(plant, Substation):
            raise TypeError(f"{node_id}'s net generation is its devices': change a Drer or Load")
        plant.net_generation = value

    def restart_device(self, node_id: str) -> None:
        """The node's SST reboots: it holds its initial setpoint again."""
        plant = self.nodes[node_id].plant
        plant.advance(self.now)
        plant.pstar = self.nodes[node_id].initial_pstar

    def crash(self, node_id: str) -> None:
        """The node's process dies at once (SIGKILL): no failsafe write, nothing more from it."""
        node = self.nodes[node_id]
        node.down = True
        node.timers.clear()

    def restart(self, node_id: str) -> None:
        """A new process for the node: a new boot epoch, a new core, the same devices and
        state directory; it takes up the journal its previous process stored."""
        old = self.nodes[node_id]
        spec = self._specs[node_id]
        boots = old.boots + 1
        core = assemble(replace(spec, epoch=spec.epoch + 1000 * boots))
        journal = old.saved.get("lb")
        if journal is not None:
            core.lb.restore(Journal.from_data(journal, node_id), self.local(node_id))
        self.nodes[node_id] = VirtualNode(
            core, old.plant, old.transport, old.initial_pstar, saved=old.saved, boots=boots
        )

    def set_fid(self, node_id: str, fid: str, closed: bool) -> None:
        """Open or close one of the node's Fid switches (its next round reads it)."""
        plant = self.nodes[node_id].plant
        if fid not in plant.fids:
            fids = ", ".join(sorted(plant.fids))
            raise KeyError(f"{node_id} has no Fid {fid!r}; its Fids: {fids}")
        plant.set_fid(fid, closed)

    def set_faults(self, faults: Faults) -> None:
        self.network.faults = faults

    def set_device_timing(self, devices: DeviceTiming) -> None:
        self.devices = replace(devices)

    def imbalance(self) -> dict[str, float]:
        """Per node, measured gateway minus net generation."""
        for node in self.nodes.values():
            node.plant.advance(self.now)
        return {n: v.plant.gateway - v.plant.net_generation for n, v in self.nodes.items()}

    def balanced(self, tolerance: float) -> bool:
        return all(abs(d) <= tolerance for d in self.imbalance().values())

    def setpoint_sum_change(self) -> float:
        """Σ (held setpoint - initial) over the devices, not the nodes' bookkeeping."""
        return sum(v.plant.pstar - v.initial_pstar for v in self.nodes.values())

    def beliefs(self) -> dict[str, tuple[float, float]]:
        """Per node (its command, what its device holds)."""
        return {n: (v.core.lb.ledger.command, v.plant.pstar) for n, v in self.nodes.items()}

    def lb(self, node_id: str) -> LoadBalancer:
        return self.nodes[node_id].core.lb


def _feeders(ids: Sequence[str], feeders: Sequence[Sequence[str]] | None) -> dict[str, list[str]]:
    """Each node's feeder (every node when there are none); the feeders must split ``ids``."""
    if feeders is None:
        return {node: list(ids) for node in ids}
    named = [node for feeder in feeders for node in feeder]
    if sorted(named) != sorted(ids):
        raise ValueError(f"feeders {feeders} must name each of {', '.join(ids)} exactly once")
    return {node: list(feeder) for feeder in feeders for node in feeder}


@dataclass(frozen=True)
class _Host:
    """One node's effects in virtual time (controller.core.executor)."""

    group: VirtualGroup
    node_id: str

    def transmit(self, to: str, data: bytes) -> None:
        self.group.nodes[self.node_id].transport.send(to, data)

    def post(self, to: str, posted: Posted) -> None:
        self.group.nodes[self.node_id].transport.send(to, posted)

    def command(self, effect: SetPStar) -> None:
        node = self.group.nodes[self.node_id]
        node.wanted = effect
        if not node.writing:
            self.group._write(self.node_id, node)

    def show_group(self, bits: int) -> None:
        self.group.nodes[self.node_id].group_bits = bits

    def persist(self, key: str, data: Mapping[str, object]) -> None:
        self.group.nodes[self.node_id].saved[key] = data

    def start_timer(self, key: TimerKey, at: float) -> None:
        group, node = self.group, self.group.nodes[self.node_id]
        token = next(group._order)
        node.timers[key] = token
        delay = max(0.0, at - group.local(self.node_id))
        group.schedule(delay, group._firer(self.node_id, key, token))

    def cancel_timer(self, key: TimerKey) -> None:
        self.group.nodes[self.node_id].timers.pop(key, None)

    def note(self, note: Note) -> None:
        self.group.notes.append((self.group.local(self.node_id), self.node_id, note))

    def answer(self, effect: Answer) -> None:
        self.group.nodes[self.node_id].answers[effect.token] = effect

    def charge_limit(self, kw: float) -> None:
        self.group.nodes[self.node_id].charge_limit_kw = kw

    def store_session(self, effect: StoreSession) -> None:
        saved = self.group.nodes[self.node_id].saved
        sessions = dict(saved.get("sessions", {}))
        if effect.data is None:
            sessions.pop(effect.session_id, None)
        else:
            sessions[effect.session_id] = effect.data
        saved["sessions"] = sessions
