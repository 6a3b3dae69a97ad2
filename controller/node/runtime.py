"""One node at run time: devices, peer socket, the phase scheduler, and the core between them.

The runtime is the only place effects become I/O: datagrams go out on UDP, PStar goes to the
actuator (whose sends and acknowledgements go back to the core's ledger), timers become
``loop.call_at`` handles, notes become log lines (and reach any listener, e.g. a live view).

Device health (:mod:`controller.core.health`): one bad round starts an episode that only ends when
the devices have answered every round for ``recovery_s``; an episode that lasts the hold time
releases the actuators to their failsafe values (retried until acknowledged). Until the
episode ends the core sees the devices as not fresh and does not draft; after a release the
node resumes control when it ends, and the core reconciles the device with its command.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from config.site import Site, split_host_port
from controller.assembly import build_core
from controller.core.effects import (
    Answer,
    Effect,
    Note,
    SetPStar,
    StoreSession,
    TimerKey,
)
from controller.core.executor import execute
from controller.core.health import DeviceHealth
from controller.core.phases import PhasePlan
from controller.core.readings import Readings
from controller.core.stats import Recent
from controller.lb.core import LoadBalancer
from controller.lb.journal import Journal, JournalError
from controller.node.api_link import ApiLink, Reply
from controller.node.chargers import Chargers
from controller.node.devices import DeviceSet
from controller.node.figures import Figures
from controller.node.scheduler import PhaseScheduler
from controller.node.session_store import SessionStore
from controller.node.snapshot import round_event, snapshot
from controller.node.state_store import StateStore
from controller.peer.keys import Keyring
from controller.peer.posted import Posted
from controller.peer.transport import UdpTransport
from device_drivers.modbus import LinkPool
from device_drivers.ocpp import CentralSystems
from device_drivers.registry import Address, Connections

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
ANSWER_TIMEOUT_S = 5.0  # an API request the core has not answered by then gets a 504
#: How long a starting node gives its OCPP charge points to connect before its first reading
#: (they retry with backoff while it was down; a node without any does not wait).
CHARGE_POINTS_WAIT_S = 2.0
NoteListener = Callable[[str, float, Note], None]


class NodeRuntime:
    """``dgi run``: one controller node."""

    def __init__(
        self,
        site: Site,
        node_id: str,
        keyring: Keyring,
        *,
        pool: LinkPool | None = None,
        central: CentralSystems | None = None,
        addresses: Mapping[str, Address] | None = None,
        clock: Callable[[], float] = time.time,
        api: bool = True,
        load_table: bool = False,
        state: StateStore | None = None,
        sessions: SessionStore | None = None,
    ) -> None:
        self.site = site
        self.node = site.node(node_id)
        self.clock = clock
        self.log = logging.getLogger(f"dgi.{node_id}")
        self.load_table = load_table  # FREEDM's load table in the log at INFO (else DEBUG)
        self.pool = pool or LinkPool()
        self._own_pool = pool is None
        self.central = central or CentralSystems()  # where its OCPP charge points connect
        self._own_central = central is None
        algorithm = site.algorithm
        self.plan = PhasePlan.from_timings(site.timings)
        self.core = build_core(site, node_id, keyring, epoch=int(clock() * 1000))
        self.settings = self.core.lb.settings
        self.state = state  # where the journal is kept (None: nowhere, as in dgi demo)
        self._take_up_journal()
        self.devices = DeviceSet(
            site.devices_of(node_id),
            Connections(self.pool, self.central),
            actuation=algorithm.actuation,
            addresses=addresses,
            clock=clock,
        )
        self.health = DeviceHealth(algorithm.failsafe_hold_s, algorithm.recovery_s)
        self.scheduler = PhaseScheduler(
            self.plan, self._phase, self._round, clock=clock, on_overrun=self._overrun
        )
        self.transport: UdpTransport | None = None
        self.skipped_rounds = 0  # a round that found the previous one still running
        self.overruns = Recent(window_s=10 * self.plan.cycle_s)
        self.listeners: list[NoteListener] = []
        self.operator_enabled = True
        self.cycles = 0
        self.started_at: float | None = None
        self.last_round_at: float | None = None
        self.figures = Figures()
        self.api: ApiLink | None = None
        if api:
            host, port = split_host_port(self.node.api)
            token_file = Path(site.path).parent / site.document.site.api_token_file
            self.api = ApiLink(
                host, port, node_id=node_id, token_file=token_file, on_write=self._write
            )
        self._timers: dict[TimerKey, asyncio.TimerHandle] = {}
        self.devices.on_sent = self.core.command_sent
        self.devices.on_acked = self._acked
        self.devices.on_failed = self._write_failed
        self.chargers = Chargers(
            [d for d in self.devices.drivers.values() if d.profile.device_type == "Evse"]
        )
        self.sessions = sessions  # where charging sessions are kept (None: nowhere)
        self._answers: dict[int, asyncio.Future[Answer]] = {}
        self._tokens = itertools.count(1)
        self._busy = False

    def _take_up_journal(self) -> None:
        """What the previous process of this node decided (controller.lb.journal)."""
        if self.state is None:
            return
        data = self.state.load("lb")
        if data is None:
            return
        try:
            self.core.lb.restore(Journal.from_data(data, self.node.id), self.clock())
        except JournalError as error:
            self.state.set_aside("lb", f"is not a journal of this node ({error})")

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the peer socket and the OCPP central system, take a first reading, and start
        the phase cycle."""
        peers = {n.id: split_host_port(n.peer) for n in self.site.nodes if n.id != self.node.id}
        self.transport = await UdpTransport.bind(
            split_host_port(self.node.peer), peers, self._datagram
        )
        await self.central.start()
        await self.central.heard(within_s=CHARGE_POINTS_WAIT_S)
        await self.devices.rtds.ready(within_s=CHARGE_POINTS_WAIT_S)  # rtds adapters too
        await self.devices.read()
        if self.sessions is not None:
            self._execute(self.core.restore_sessions(self.sessions.load(), self.clock()))
        self.started_at = self.clock()
        if self.api is not None:
            await self.api.start(snapshot(self, self.clock()))
        first = self.scheduler.start()
        self.log.info(
            "node %s up: peer %s, %d device(s), %s mode, first cycle in %.2f s",
            self.node.id,
            self.node.peer,
            len(self.devices.drivers),
            self.settings.mode,
            first - self.clock(),
        )

    async def stop(self, *, release: bool = True) -> None:
        """Stop the cycle (letting a round in progress finish), cancel timers, optionally
        release the actuators; idempotent."""
        await self.scheduler.stop()
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        if self.api is not None:
            await self.api.stop()
        if self.state is not None:
            self.state.close()
        for future in self._answers.values():
            future.cancel()
        await self.chargers.close()
        if self.sessions is not None:
            self.sessions.close()
        if release:
            await self.devices.released_now()
            pending = self.devices.failsafe_pending
            if pending:
                names = ", ".join(f"{d.device_id} {p.name}" for d, p in pending)
                self.log.warning("released, but the failsafe value of %s was not written", names)
            else:
                self.log.info("released: failsafe values written")
        await self.devices.close()
        if self._own_pool:
            self.pool.close()
        if self._own_central:
            await self.central.close()

    # -- inputs from the scheduler, the socket and the timers -------------------------------------

    async def _phase(self, phase: str) -> None:
        if phase == "lb":
            self.cycles += 1
        self._execute(self.core.phase_started(phase, self.clock()))

    async def _round(self, index: int) -> None:
        if self._busy:
            self.skipped_rounds += 1
            self._overrun()
            self.log.warning("round %d skipped: the previous round is still running", index)
            return
        self._busy = True
        started = time.perf_counter()
        if self.api is not None:
            self.api.hold()
        try:
            readings = self._judged(await self.devices.read())
            if not self.operator_enabled:  # the operator gate acts like the Logger's dgiEnable
                readings = dataclasses.replace(readings, dgi_enable=False)
            self._execute(self.core.round(readings, self.clock()))
            self.devices.retry()
            self.chargers.retry()
        finally:
            self._busy = False
            if self.api is not None:
                self.api.go()
            duration = time.perf_counter() - started
            self.figures.rounds.observe(duration)
            self.last_round_at = self.clock()
            data = {"index": index, "duration_s": duration}
            self._tell(Note("round", f"round {index}", data, "debug"))
            self._publish_round(duration)

    def _datagram(self, data: bytes) -> None:
        self._execute(self.core.datagram(data, self.clock()))

    def _timer(self, key: TimerKey) -> None:
        self._timers.pop(key, None)
        self._execute(self.core.timer(key, self.clock()))

    def _judged(self, readings: Readings) -> Readings:
        """The round's readings as the core may use them: not fresh while the devices are on
        probation; a release after the hold time, a resume when the episode ends."""
        now = self.clock()
        event = self.health.observe(readings.fresh, now)
        if event == "release":
            held = now - (self.health.unhealthy_since or now)
            self.log.warning(
                "devices failing for %.1f s (%s): releasing to failsafe values",
                held, ", ".join(readings.stale) or "answering only now and then",
            )  # fmt: skip
            self.devices.release()
            self.chargers.release()
        elif event == "resume":
            self.log.info("devices answered for %.1f s: resuming control", self.health.recovery_s)
            self.devices.resume()
            self.chargers.resume()
        elif event == "recovered":
            self.log.info("devices trusted again after %.1f s of answers", self.health.recovery_s)
        if readings.fresh and not self.health.trusted:
            return dataclasses.replace(readings, fresh=False, recovering=True)
        return readings

    def _overrun(self) -> None:
        self.overruns.add("overrun", self.clock())

    # -- effects ----------------------------------------------------------------------------------

    def _execute(self, effects: list[Effect]) -> None:
        execute(effects, self)

    # the effect host (controller.core.executor)

    def transmit(self, to: str, data: bytes) -> None:
        if self.transport is not None:
            self.transport.send(to, data)

    def post(self, to: str, posted: Posted) -> None:
        raise TypeError(f"a running node seals what it sends: nothing posted to {to} unsealed")

    def command(self, effect: SetPStar) -> None:
        self.devices.command(effect)  # held back while released

    def show_group(self, bits: int) -> None:
        self.devices.show_group(bits)

    def persist(self, key: str, data: Mapping[str, object]) -> None:
        if self.state is not None:
            self.state.save(key, data)

    def answer(self, effect: Answer) -> None:
        future = self._answers.pop(effect.token, None)
        if future is not None and not future.done():
            future.set_result(effect)

    def charge_limit(self, kw: float) -> None:
        self.chargers.limit(kw)

    def store_session(self, effect: StoreSession) -> None:
        if self.sessions is not None:
            self.sessions.save(effect.session_id, effect.data)

    def start_timer(self, key: TimerKey, at: float) -> None:
        self.cancel_timer(key)
        delay = max(0.0, at - self.clock())
        self._timers[key] = asyncio.get_running_loop().call_later(delay, self._timer, key)

    def cancel_timer(self, key: TimerKey) -> None:
        handle = self._timers.pop(key, None)
        if handle is not None:
            handle.cancel()

    def note(self, note: Note) -> None:
        level = LEVELS.get(note.level, logging.INFO)
        extra = {"kind": note.kind, "data": dict(note.data)}
        if note.kind == "load_table":
            level = logging.INFO if self.load_table else logging.DEBUG
            self.log.log(level, "\n%s", note.text, extra=extra)
        else:
            self.log.log(level, "%s", note.text, extra=extra)
        self._tell(note)

    def _acked(self, seq: int, setpoint: float, mark: float) -> None:
        """The device acknowledged the actuator's write of ledger entry ``seq``."""
        data = {"seq": seq, "setpoint": setpoint}
        self._tell(Note("written", f"setpoint {setpoint:g} written (entry {seq})", data, "debug"))
        self._execute(self.core.command_acked(seq, setpoint, mark, self.clock()))

    def _write_failed(self, seq: int, reason: str, refused: bool) -> None:
        self._execute(self.core.command_failed(seq, reason, self.clock(), refused=refused))

    def _tell(self, note: Note) -> None:
        when = self.clock()
        self.figures.note(note, when)
        for listener in self.listeners:
            listener(self.node.id, when, note)
        if self.api is not None and note.kind in ("migration", "state", "gm"):
            data = {"node": self.node.id, "time": when, "text": note.text, **note.data}
            self.api.publish({"type": "event", "event": note.kind, "data": data})

    def _publish_round(self, duration: float) -> None:
        if self.api is None:
            return
        now = self.clock()
        self.api.publish_snapshot(snapshot(self, now))
        event = round_event(self, now, duration).model_dump(mode="json")
        self.api.publish({"type": "event", "event": "round", "data": event})

    async def _write(self, action: str, args: dict[str, object]) -> Reply:
        """A request from the API process: a write (it checked the token), a charging
        request (``charge``: open to all) or the list of this substation's sessions."""
        if action == "control":
            enabled = bool(args["enabled"])
            if enabled != self.operator_enabled:
                self.operator_enabled = enabled
                self.log.warning(
                    "operator %s the node through the API", "enabled" if enabled else "disabled"
                )
            return {"enabled": self.operator_enabled}
        if action == "charge":
            body = args.get("body")
            return await self._ask_core(
                lambda token: self.core.charge(
                    token, body if isinstance(body, dict) else None, self.clock()
                )
            )
        if action == "end_session":
            session_id = str(args["session_id"])
            return await self._ask_core(
                lambda token: self.core.end_session(token, session_id, self.clock())
            )
        if action == "sessions":
            ev = self.core.ev
            listed = [] if ev is None else [ev.public(s) for s in ev.sessions()]
            return {"node": self.node.id, "sessions": listed}
        raise ValueError(f"unknown action {action!r}")

    async def _ask_core(self, ask: Callable[[int], list[Effect]]) -> Reply:
        """Hand the core a request and wait for its ``Answer`` (a 504 after a while)."""
        token = next(self._tokens)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._answers[token] = future
        self._execute(ask(token))
        try:
            answer = await asyncio.wait_for(future, ANSWER_TIMEOUT_S)
        except TimeoutError:
            return 504, {"error": f"no answer within {ANSWER_TIMEOUT_S:g} s"}, {}
        finally:
            self._answers.pop(token, None)
        return answer.status, dict(answer.body), dict(answer.headers)

    # -- what others look at ----------------------------------------------------------------------

    @property
    def lb(self) -> LoadBalancer:
        return self.core.lb

    @property
    def released(self) -> bool:
        return self.health.released
