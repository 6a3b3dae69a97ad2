"""Why a node is not ready (``/readyz``, ``dgi_ready``), from its snapshot: pure."""

from __future__ import annotations

from controller.api.models import Snapshot

#: Readiness thresholds: overruns in the overrun window, cycles a command may wait for the
#: device, cycles without a peer datagram, and the share of expired datagrams that points at
#: clocks further apart than the TTL.
OVERRUNS_NOT_READY = 3
UNACKED_CYCLES = 2
PEER_SILENCE_CYCLES = 3
COLLECTION_CYCLES = 3  # cycles a member may go without its leader's collected state
EXPIRED_MIN, EXPIRED_SHARE = 5, 0.5


def readiness(snapshot: Snapshot | None, now: float) -> list[str]:
    """Why the node is not ready (nothing when it is)."""
    if snapshot is None:
        return ["no snapshot from the node yet"]
    reasons = []
    if not snapshot.devices:
        reasons.append("the node has no devices")
    stale = [d.id for d in snapshot.devices if d.stale]
    if stale:
        reasons.append(f"devices stale: {', '.join(stale)}")
    timing = snapshot.timing
    last = timing.last_round_at
    if last is None:
        reasons.append("no LB round yet")
    elif now - last > 2 * timing.cycle_s:
        reasons.append(
            f"no LB round for {now - last:.1f} s (one is due every {timing.cycle_s:g} s cycle)"
        )
    if snapshot.released:
        reasons.append("actuators released to failsafe values")
    elif snapshot.health.state == "recovering":
        reasons.append(
            f"devices answer again; trusted after {snapshot.health.recovery_s:g} s of answers"
        )
    if snapshot.gm is not None and snapshot.site_nodes > 1 and len(snapshot.group) == 1:
        reasons.append(
            f"alone: in no group with the site's other {snapshot.site_nodes - 1} node(s)"
        )
    reasons += _leader_reasons(snapshot, now)
    reasons += _command_reasons(snapshot, now)
    reasons += _timing_reasons(snapshot)
    reasons += _peer_reasons(snapshot, now)
    return reasons


def _leader_reasons(snapshot: Snapshot, now: float) -> list[str]:
    """A member whose leader's state collection stopped reaching it: the leader is gone (or
    cut off) and group management has not noticed yet."""
    if snapshot.leader == snapshot.node:
        return []
    cycle = snapshot.timing.cycle_s
    started = snapshot.started_at or now
    last = snapshot.state_collection.last
    heard = None if last is None or last.leader != snapshot.leader else last.received
    if heard is None and now - started <= COLLECTION_CYCLES * cycle:
        return []  # just started
    if heard is None or now - heard > COLLECTION_CYCLES * cycle:
        since = "yet" if heard is None else f"for {now - heard:.1f} s"
        return [f"leader {snapshot.leader} gone: no state collection from it {since}"]
    return []


def _command_reasons(snapshot: Snapshot, now: float) -> list[str]:
    reasons = []
    problem = snapshot.disagreement
    if problem is not None:
        held = "no value" if problem.held is None else f"{problem.held:g}"
        reasons.append(f"the actuator holds {held} but the node commanded {problem.commanded:g}")
    ledger = snapshot.ledger.summary
    since = ledger.pending_since
    if since is not None and now - since > UNACKED_CYCLES * snapshot.timing.cycle_s:
        reasons.append(
            f"the actuator has not acknowledged PStar {ledger.command:g} for "
            f"{now - since:.1f} s ({snapshot.counters.write_errors} failed writes)"
        )
    return reasons


def _timing_reasons(snapshot: Snapshot) -> list[str]:
    recent = snapshot.recent
    if recent.overruns >= OVERRUNS_NOT_READY:
        return [f"{recent.overruns} LB rounds overran in the last {recent.overrun_window_s:g} s"]
    return []


def _peer_reasons(snapshot: Snapshot, now: float) -> list[str]:
    reasons = []
    peers = snapshot.peers
    cycle = snapshot.timing.cycle_s
    started = snapshot.started_at or now
    if peers and now - started > PEER_SILENCE_CYCLES * cycle:
        heard = [p.last_seen for p in peers if p.last_seen is not None]
        last = max(heard) if heard else None
        if last is None or now - last > PEER_SILENCE_CYCLES * cycle:
            since = "ever" if last is None else f"for {now - last:.1f} s"
            reasons.append(f"no datagram accepted from any peer {since}")
    datagrams = snapshot.recent.datagrams
    expired, accepted = datagrams.get("expired", 0), datagrams.get("accepted", 0)
    if expired >= EXPIRED_MIN and expired > EXPIRED_SHARE * (expired + accepted):
        reasons.append(
            f"{expired} of {expired + accepted} peer datagrams in the last "
            f"{snapshot.recent.window_s:g} s arrived expired: clocks further apart than "
            "the time-to-live (CSRC_DEFAULT_TIMEOUT)? synchronise them (NTP)"
        )
    for peer, epochs in snapshot.duplicates.peers.items():
        reasons.append(f"node id {peer} is used by two processes (boot epochs {epochs[0]}, "
                       f"{epochs[1]})")  # fmt: skip
    for reporter, epoch in snapshot.duplicates.this_node.items():
        reasons.append(f"{reporter} hears this node's id from another process too (epoch {epoch})")
    return reasons
