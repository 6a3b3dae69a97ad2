"""A site whose addresses are host names, as the compose site's are (``sst1:8101``,
``simulator:15101``; docs/deployment.md): the simulator serves every device on a name, each
node binds its API and peer socket on a name and sends to its peers by name — and the group
forms and balances. ``localhost`` stands in for the compose network's names: it goes through
the same resolver (``getaddrinfo``) a service name does."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.system.lab import Lab, Observer, until

NODES = ("sst1", "sst2", "sst3")


async def test_a_site_addressed_by_host_names_forms_its_group_and_balances(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    lab = Lab.create(tmp_path, processes, edit=lambda text: text.replace("127.0.0.1", "localhost"))
    assert all(n.api.startswith("localhost:") for n in lab.site.nodes)
    assert all(n.peer.startswith("localhost:") for n in lab.site.nodes)
    assert {d.entry.host for d in lab.site.devices} == {"localhost"}
    lab.start_simulator()
    for node in NODES:
        lab.start_node(node)
    await until(lambda: all(lab.ready(n)[0] for n in NODES), 30, "three ready nodes")
    for node in NODES:  # the health check the compose file runs, on the node's own name
        assert lab.api(node, "/healthz") == {"status": "ok", "node": node}

    def one_group() -> bool:
        seen = {
            (s["leader"], tuple(sorted(s["group"])))
            for s in (lab.api(n, "/api/v1/status") for n in NODES)
        }
        return seen == {("sst1", NODES)}

    await until(one_group, 20, "one group of three, led by sst1")
    observer = Observer(lab.site)
    try:

        async def balanced() -> bool:
            figures = await observer.figures()
            return all(abs(f["gateway"] - f["net_generation"]) <= 0.1 for f in figures.values())

        await until(balanced, 30, "balanced")
    finally:
        await observer.close()
    lab.alive()
