"""``dgi run``: one controller node in this process."""

from __future__ import annotations

import logging
from pathlib import Path

from config.site import Site
from controller.cli.lifecycle import wait_for_stop
from controller.node.api_link import ApiStartError
from controller.node.runtime import NodeRuntime
from controller.node.session_store import SessionStore
from controller.node.state_store import StateStore
from controller.node.trace import TraceFile
from controller.peer.keys import KeyFileError, load_keyring
from device_drivers.ocpp import CentralSystemError

log = logging.getLogger("dgi")


async def run_node(
    site: Site,
    node_id: str,
    *,
    release: bool,
    duration: float | None,
    trace: Path | None = None,
    load_table: bool = False,
) -> int:
    try:
        keyring = load_keyring(Path(site.path).parent / site.document.site.key_file)
    except KeyFileError as exc:
        log.error("%s", exc)
        return 1
    header = site.document.site
    state_dir = Path(site.path).parent / header.state_dir
    state = StateStore(state_dir, node_id)
    sessions = SessionStore(state_dir, node_id) if site.ev.enabled else None
    node = NodeRuntime(
        site, node_id, keyring, load_table=load_table, state=state, sessions=sessions
    )
    tracer = TraceFile(trace) if trace is not None else None
    if tracer is not None:
        node.listeners.append(tracer)
    try:
        await node.start()
    except (ApiStartError, CentralSystemError) as exc:
        log.error("node %s cannot start: %s", node_id, exc)
        await node.stop(release=False)
        return 1
    except OSError as exc:
        log.error(
            "node %s cannot start: %s (peer address %s)", node_id, exc, site.node(node_id).peer
        )
        await node.stop(release=False)
        return 1
    try:
        await wait_for_stop(duration)
    finally:
        await node.stop(release=release)
        if tracer is not None:
            tracer.close()
    return 0
