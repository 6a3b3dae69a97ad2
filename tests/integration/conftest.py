"""A node running here against its simulator, with its API in its own process (as with
``dgi run``), for tests that talk to the API over HTTP."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from config.loader import load_site
from controller.node.runtime import NodeRuntime
from controller.peer.keys import Keyring, load_keyring, write_key_file
from simulators.runner import Simulation
from tests.conftest import copy_site

TOKEN = "api-token-for-the-tests-0123456789"


@dataclasses.dataclass
class Running:
    sim: Simulation
    node: NodeRuntime
    base: str
    keys: Keyring
    peer_port: int


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """sst1 of three-substations (its peers do not run), in the static group: the API as a
    node with silent peers shows it."""
    async with live_node(tmp_path, "three-substations.toml", group="static") as node:
        yield node


@pytest.fixture
async def solo(tmp_path: Path) -> AsyncIterator[Running]:
    """The single-node site: a node with no peers, ready as soon as its devices answer."""
    async with live_node(tmp_path, "single-node.toml") as node:
        yield node


@pytest.fixture
async def roomy(tmp_path: Path) -> AsyncIterator[Running]:
    """The single-node site with room for any number of charging sessions (a fuzzer's)."""
    async with live_node(tmp_path, "single-node.toml", ev_capacity_kw=1e12) as node:
        yield node


@contextlib.asynccontextmanager
async def live_node(
    tmp_path: Path,
    example: str,
    *,
    group: str = "election",
    ev_capacity_kw: float | None = None,
    edit: Callable[[str], str] | None = None,
) -> AsyncIterator[Running]:
    """sst1 of ``example`` (its site file changed by ``edit``) with its simulator and API."""
    path = copy_site(example, tmp_path)
    text = path.read_text() if edit is None else edit(path.read_text())
    text = text.replace("[algorithm]\n", f'[algorithm]\ngroup_management = "{group}"\n')
    if ev_capacity_kw is not None:
        text = text.replace("\n[[nodes]]\n", f"\n[[nodes]]\nev_capacity_kw = {ev_capacity_kw}\n")
    path.write_text(text)
    write_key_file(tmp_path / "group.key")
    token = tmp_path / "api.token"
    token.write_text(TOKEN + "\n")
    os.chmod(token, 0o600)
    site = load_site(path)
    async with Simulation(site) as sim:
        node = NodeRuntime(site, "sst1", load_keyring(tmp_path / "group.key"))
        await node.start()
        try:
            base = f"http://{site.node('sst1').api}"
            peer_port = int(site.node("sst1").peer.rsplit(":", 1)[1])
            yield Running(sim, node, base, node.core.wire.keyring, peer_port)
        finally:
            await node.stop(release=False)
