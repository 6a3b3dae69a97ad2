"""The physical topology with real processes: three ``dgi run`` and ``dgi simulate``, each
substation joined to the bus through its own Fid switch. Opening a substation's switch in the
simulator takes it out of the group within two GM cycles; closing it brings it back."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from controller.cli.fault_cmd import send
from tests.conftest import free_port
from tests.system.lab import Lab, until
from tests.system.test_group import NODES, WITHIN_S, groups, one_group

TOPOLOGY = """\
# every substation reaches the bus through its own switch
edge bus A
edge bus B
edge bus C
sst A sst1
sst B sst2
sst C sst3
fid bus A sst1-fid
fid bus B sst2-fid
fid bus C sst3-fid
"""


def fid(node: str) -> str:
    return f"""
[[nodes.devices]]
id = "{node}-fid"
type = "Fid"
transport = "simulated"
host = "127.0.0.1"
port = {free_port()}
profile = "fid"
"""


def with_switches(text: str) -> str:
    """three-substations.toml with a Fid per substation and the topology file."""
    text = text.replace("[site]\n", '[site]\ntopology_file = "topology.cfg"\n', 1)
    for before, node in (("sst2", "sst1"), ("sst3", "sst2")):
        marker = f'\n[[nodes]]\nid = "{before}"'
        assert marker in text
        text = text.replace(marker, fid(node) + marker, 1)
    return text + fid("sst3")


def partition(lab: Lab) -> set[tuple[str, tuple[str, ...]]]:
    """(leader, members) of each group the nodes report."""
    return set(groups(lab, NODES).values())


def members(lab: Lab) -> set[tuple[str, ...]] | None:
    """The groups' members, when every node agrees with its members on its group."""
    seen = groups(lab, NODES)
    if any(seen[m] != group for group in seen.values() for m in group[1]):
        return None
    return {group for _, group in seen.values()}


async def switched(lab: Lab, node: str, closed: bool, expected: set[tuple[str, ...]]) -> float:
    """Set ``node``'s Fid in the simulator; seconds until the nodes' groups are ``expected``
    (their members, as every member sees them; any leader)."""
    host, _, port = lab.control.rpartition(":")
    started = time.monotonic()
    command = {"op": "plant", "device": f"{node}-fid", "states": {"state": int(closed)}}
    answer = send((host, int(port)), command)
    assert answer["ok"], answer
    await until(lambda: members(lab) == expected, 4 * WITHIN_S, f"{node}-fid {closed}")
    return time.monotonic() - started


async def test_opening_a_substations_switch_takes_it_out_of_the_group_and_closing_brings_it_back(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    (tmp_path / "topology.cfg").write_text(TOPOLOGY, encoding="utf-8")
    lab = Lab.create(tmp_path, processes, edit=with_switches)
    assert lab.site.topology is not None
    lab.start_simulator()
    for node in NODES:
        lab.start_node(node)
    await until(lambda: all(lab.ready(n)[0] for n in NODES), 30, "three ready nodes")
    assert one_group(lab, NODES, "sst1")

    took = await switched(lab, "sst3", False, {("sst1", "sst2"), ("sst3",)})  # a member
    assert took <= WITHIN_S, took
    await asyncio.sleep(WITHIN_S)  # it stays out while its switch is open
    assert partition(lab) == {("sst1", ("sst1", "sst2")), ("sst3", ("sst3",))}
    took = await switched(lab, "sst3", True, {NODES})
    assert took <= WITHIN_S, took
    assert one_group(lab, NODES, "sst1")

    # the leader: the other two carry on together (led by whichever of them invited first)
    took = await switched(lab, "sst1", False, {("sst1",), ("sst2", "sst3")})
    assert took <= WITHIN_S, took
    took = await switched(lab, "sst1", True, {NODES})
    assert took <= WITHIN_S, took
    await until(lambda: all(lab.ready(n)[0] for n in NODES), 10, "three ready nodes again")
    log = (lab.directory / "logs" / "sst1.log").read_text(errors="replace")
    assert "(sst3 not reachable through closed Fids)" in log
    lab.alive()
