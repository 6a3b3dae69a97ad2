"""The physical topology: FREEDM's ``topology.cfg`` parsed and checked against the site, and
which nodes are reachable through closed Fids."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.loader import load_site
from config.topology import Topology, edge, parse_topology
from controller.gm.topology import reachable

RING = [f"n{i}" for i in range(1, 8)]
VERTICES = "ABCDEFG"
#: FREEDM's sample: a ring of seven vertices, one node and one FID on each ring edge.
RING_TEXT = "\n".join(
    [
        "# FREEDM's sample topology: a ring of 7",
        *(f"edge {VERTICES[i]} {VERTICES[(i + 1) % 7]}" for i in range(7)),
        *(f"sst {VERTICES[i]} {RING[i]}" for i in range(7)),
        *(
            f"fid {VERTICES[i]} {VERTICES[(i + 1) % 7]} fid{i + 1}  # n{i + 1} reads it"
            for i in range(7)
        ),
    ]
)
RING_DEVICES = {f"fid{i + 1}": ("Fid", RING[i]) for i in range(7)}


def ring() -> Topology:
    topology, issues = parse_topology(RING_TEXT, "topology.cfg", RING, RING_DEVICES)
    assert issues == []
    return topology


def test_the_ring_of_seven_is_read() -> None:
    topology = ring()
    assert topology.vertex_of["n3"] == "C"
    assert topology.edges[edge("G", "A")] == frozenset({"fid7"})
    assert topology.fid_node["fid4"] == "n4"
    assert topology.fids_of("n2") == frozenset({"fid2"})


def test_ring_all_closed_every_node_is_reachable() -> None:
    states = {f"fid{i}": True for i in range(1, 8)}
    assert reachable(ring(), "n1", states) == set(RING)


def test_ring_one_fid_open_still_one_piece() -> None:
    states = {f"fid{i}": True for i in range(1, 8)} | {"fid3": False}
    assert reachable(ring(), "n1", states) == set(RING)


def test_ring_two_fids_open_cut_it_in_two() -> None:
    states = {f"fid{i}": True for i in range(1, 8)} | {"fid2": False, "fid5": False}
    # open: B-C and E-F; pieces {F, G, A, B} and {C, D, E}
    assert reachable(ring(), "n1", states) == {"n6", "n7", "n1", "n2"}
    assert reachable(ring(), "n5", states) == {"n3", "n4", "n5"}


def test_unknown_state_is_open() -> None:
    states = {f"fid{i}": True for i in range(1, 8) if i not in (1, 7)}  # fid1 and fid7 unknown
    assert reachable(ring(), "n1", states) == {"n1"}
    assert reachable(ring(), "n1", {}) == {"n1"}


def test_several_fids_per_edge_and_several_edges_per_fid() -> None:
    text = """
    edge A B
    edge B C
    edge C D
    fid A B f1
    fid A B f2      # A-B is closed only when f1 and f2 both are
    fid B C f3
    fid C D f3      # one switch guards two edges
    sst A a
    sst B b
    sst C c
    sst D d
    """
    devices = {"f1": ("Fid", "a"), "f2": ("Fid", "b"), "f3": ("Fid", "c")}
    topology, issues = parse_topology(text, "t.cfg", "abcd", devices)
    assert issues == []
    assert topology.edges[("A", "B")] == frozenset({"f1", "f2"})
    everything = {"f1": True, "f2": True, "f3": True}
    assert reachable(topology, "a", everything) == {"a", "b", "c", "d"}
    assert reachable(topology, "a", everything | {"f2": False}) == {"a"}
    assert reachable(topology, "b", everything | {"f3": False}) == {"a", "b"}
    assert reachable(topology, "d", everything | {"f3": False}) == {"d"}


def test_an_edge_without_fid_is_always_closed_and_a_vertex_may_hold_several_nodes() -> None:
    text = "edge A B\nsst A a\nsst B b\nsst B c\nsst C d\n"
    topology, issues = parse_topology(text, "t.cfg", "abcd", {})
    assert issues == []
    assert reachable(topology, "a", {}) == {"a", "b", "c"}
    assert reachable(topology, "d", {}) == {"d"}  # a vertex of its own, joined to nothing


BAD = """\
edge A B
edeg B C
edge A
edge C C
edge B A     # the same edge again
sst A n1
sst B n1
sst Z nobody
fid A B f1
fid A B f1
fid A C f2
fid A B pv
fid A B ghost
"""


def test_every_problem_is_named_with_its_line() -> None:
    devices = {"f1": ("Fid", "n1"), "f2": ("Fid", "n2"), "pv": ("Drer", "n1")}
    _, issues = parse_topology(BAD, "topology.cfg", ["n1", "n2"], devices)
    shown = [str(i) for i in issues]
    assert shown == [
        "topology.cfg:2: line = 'edeg B C': unknown keyword 'edeg'; a line is edge V1 V2, "
        "sst VERTEX NODE or fid V1 V2 DEVICE",
        "topology.cfg:3: edge = 'edge A': takes two vertices: edge V1 V2",
        "topology.cfg:4: edge = 'edge C C': an edge joins two different vertices",
        "topology.cfg:5: edge = 'edge B A': duplicate edge (also line 1)",
        "topology.cfg:7: sst = 'n1': node already at vertex A (line 6)",
        "topology.cfg:8: sst = 'nobody': no such node in the site; nodes: n1, n2",
        "topology.cfg:10: fid = 'f1': already guards this edge (line 9)",
        "topology.cfg:11: fid = 'fid A C f2': no edge A C (add an edge line)",
        "topology.cfg:12: fid = 'pv': device pv is a Drer, not a Fid",
        "topology.cfg:13: fid = 'ghost': no such device in the site",
        "topology.cfg: sst = 'n2': node has no vertex: every node of the site needs an sst line",
    ]


SITE = """\
[site]
name = "t"
topology_file = "topology.cfg"

[[nodes]]
id = "a"
api = "127.0.0.1:8001"
peer = "127.0.0.1:9001"

[[nodes.devices]]
id = "a-fid"
type = "Fid"
transport = "fake"
profile = "fid"

[[nodes.devices]]
id = "a-load"
type = "Load"
transport = "fake"
profile = "load"

[[nodes]]
id = "b"
api = "127.0.0.1:8002"
peer = "127.0.0.1:9002"

[[nodes.devices]]
id = "b-fid"
type = "Fid"
transport = "fake"
profile = "fid"
"""


def write(tmp_path: Path, site: str, topology: str | None) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(site, encoding="utf-8")
    if topology is not None:
        (tmp_path / "topology.cfg").write_text(topology, encoding="utf-8")
    return path


def test_the_site_names_its_topology_file(tmp_path: Path) -> None:
    text = "edge A B\nsst A a\nsst B b\nfid A B a-fid\nfid A B b-fid\n"
    site = load_site(write(tmp_path, SITE, text))
    assert site.topology is not None
    assert site.topology.edges == {("A", "B"): frozenset({"a-fid", "b-fid"})}
    assert site.topology.fid_node == {"a-fid": "a", "b-fid": "b"}
    without = SITE.replace('topology_file = "topology.cfg"\n', "")
    assert load_site(write(tmp_path, without, None)).topology is None


def test_a_bad_topology_refuses_the_site_with_every_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = "edge A B\nsst A a\nsst B c\nfid A B a-load\nfid A B x-fid\n"
    site = SITE.replace('name = "t"', 'name = "t"\nkey_file = 7')  # and an error of the site's own
    with pytest.raises(ConfigError) as caught:
        load_site(write(tmp_path, site, text))
    shown = str(caught.value)
    assert "site.toml:3: site.key_file = 7: must be a string" in shown
    assert "topology.cfg:3: sst = 'c': no such node in the site; nodes: a, b" in shown
    assert "topology.cfg:4: fid = 'a-load': device a-load is a Load, not a Fid" in shown
    assert "topology.cfg:5: fid = 'x-fid': no such device in the site" in shown
    assert "topology.cfg: sst = 'b': node has no vertex" in shown
    assert len(caught.value.issues) == 5


def test_a_missing_topology_file_and_static_groups_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = r"site\.topology_file = 'topology\.cfg': topology file not found: topology\.cfg"
    with pytest.raises(ConfigError, match=missing):
        load_site(write(tmp_path, SITE, None))
    static = SITE + '\n[algorithm]\ngroup_management = "static"\n'
    text = "sst A a\nsst B b\n"
    with pytest.raises(ConfigError, match=r"needs group_management = \"election\""):
        load_site(write(tmp_path, static, text))
