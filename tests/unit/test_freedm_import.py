"""The FREEDM import (config/freedm): every field it carries and every note, on texts."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from config.freedm import FreedmError, ImportResult, Note, Source, convert

DATA = Path(__file__).resolve().parents[1] / "data" / "freedm" / "config"
HOSTS3 = "add-host=dgi1.lab:51871\nadd-host=dgi2.lab:51872\nadd-host=dgi3.lab:51873\nport=51871\n"
TIMINGS_SLOW5 = """GM_AYC_RESPONSE_TIMEOUT=140
GM_PREMERGE_MAX_TIMEOUT=180
GM_INVITE_RESPONSE_TIMEOUT=210
GM_AYT_RESPONSE_TIMEOUT=140
GM_PREMERGE_MIN_TIMEOUT=90
GM_PREMERGE_GRANULARITY=90
GM_PHASE_TIME=530
LB_PHASE_TIME=4100
LB_ROUND_TIME=410
LB_REQUEST_TIMEOUT=140
SC_PHASE_TIME=320
DEV_PNP_HEARTBEAT=5000
DEV_RTDS_DELAY=50
DEV_SOCKET_TIMEOUT=1000
CSRC_RESEND_TIME=60
CSRC_DEFAULT_TIMEOUT=4100
"""


def sample(name: str) -> Source:
    return Source(name, (DATA / name).read_text(encoding="utf-8"))


def imported_sample(**kwargs: Any) -> ImportResult:
    return convert(
        sample("freedm.cfg"),
        adapters=sample("adapter.xml"),
        devices=sample("device.xml"),
        timings=sample("timings.cfg"),
        **kwargs,
    )


def run(
    cfg: str = HOSTS3,
    adapters: str | None = None,
    devices: str | None = None,
    timings: str | None = TIMINGS_SLOW5,
    **kwargs: Any,
) -> tuple[dict[str, Any], list[Note]]:
    result = convert(
        Source("freedm.cfg", cfg),
        adapters=None if adapters is None else Source("adapter.xml", adapters),
        devices=None if devices is None else Source("device.xml", devices),
        timings=None if timings is None else Source("timings.cfg", timings),
        **kwargs,
    )
    return tomllib.loads(result.toml), list(result.notes)


def whys(notes: list[Note], file: str | None = None) -> list[str]:
    return [f"{n.entry}: {n.why}" for n in notes if file is None or n.file == file]


def rtds_xml(*adapters: str) -> str:
    return "<root>\n" + "\n".join(adapters) + "\n</root>\n"


def rtds_adapter(name: str, port: int, states: str, commands: str = "", host: str = "sim") -> str:
    return (
        f'<adapter name="{name}" type="rtds"><info><host>{host}</host><port>{port}</port></info>'
        f"<state>{states}</state><command>{commands}</command></adapter>"
    )


def entry(index: int, kind: str, device: str, signal: str) -> str:
    return (
        f'<entry index="{index}"><type>{kind}</type><device>{device}</device>'
        f"<signal>{signal}</signal></entry>"
    )


# -- the sample files ---------------------------------------------------------------------------


def test_sample_nodes_keep_their_freedm_address_and_get_readable_ids() -> None:
    result = imported_sample()
    site = tomllib.loads(result.toml)
    nodes = [(n["id"], n["peer"], n["api"]) for n in site["nodes"]]
    assert nodes == [
        ("dgi1", "dgi1.lab:51871", "dgi1.lab:8101"),
        ("dgi2", "dgi2.lab:51872", "dgi2.lab:8102"),
        ("dgi3", "dgi3.lab:51873", "dgi3.lab:8103"),
    ]
    assert dict(result.nodes) == {
        "dgi1.lab:51871": "dgi1",
        "dgi2.lab:51872": "dgi2",
        "dgi3.lab:51873": "dgi3",
    }
    assert "#   dgi1.lab:51871 -> dgi1  (the DGI of this freedm.cfg" in result.toml
    assert "#   dgi3.lab:51873 -> dgi3\n" in result.toml


def test_sample_algorithm_flags_and_timings_are_carried() -> None:
    site = tomllib.loads(imported_sample().toml)
    assert site["algorithm"] == {
        "mode": "freedm",
        "migration_step": 2.0,
        "malicious": False,
        "check_invariant": True,
    }
    timings = site["timings"]
    assert timings["profile"] == "fast-5"  # only the base: every key is the file's
    assert timings["LB_ROUND_TIME"] == 3000
    assert timings["DEV_RTDS_DELAY"] == 40
    assert len(timings) == 1 + 16  # the profile and every timing key of this project


def test_sample_rtds_adapter_is_carried_entry_for_entry_with_its_devices() -> None:
    site = tomllib.loads(imported_sample().toml)
    [adapter] = site["rtds"]
    assert {k: adapter[k] for k in ("name", "host", "port", "delay_ms", "timeout_ms")} == {
        "name": "pscad1",
        "host": "simserver.lab",
        "port": 5001,
        "delay_ms": 40.0,  # DEV_RTDS_DELAY of timings.cfg
        "timeout_ms": 900.0,  # DEV_SOCKET_TIMEOUT
    }
    states = [(e["index"], e["device"], e["signal"]) for e in adapter["states"]]
    assert states == [
        (1, "SST1", "gateway"),
        (2, "DRER1", "generation"),
        (3, "DESD1", "storage"),
        (4, "LOAD1", "drain"),
        (5, "LOGGER1", "dgiEnable"),
        (6, "OMEGA1", "frequency"),
    ]
    commands = [(e["index"], e["device"], e["signal"]) for e in adapter["commands"]]
    assert commands == [
        (1, "SST1", "gateway"),
        (2, "DESD1", "storage"),
        (3, "LOGGER1", "groupStatus"),
    ]
    local, *others = site["nodes"]
    devices = [(d["id"], d["type"], d["transport"], d["adapter"]) for d in local["devices"]]
    assert devices == [
        ("SST1", "Sst", "rtds", "pscad1"),
        ("DRER1", "Drer", "rtds", "pscad1"),
        ("DESD1", "Desd", "rtds", "pscad1"),
        ("LOAD1", "Load", "rtds", "pscad1"),
        ("LOGGER1", "Logger", "rtds", "pscad1"),
        ("OMEGA1", "Omega", "rtds", "pscad1"),
    ]
    assert all("devices" not in node for node in others)


def test_sample_notes_name_file_line_entry_and_why() -> None:
    result = imported_sample()
    shown = [str(note) for note in result.notes]
    assert shown == [
        "freedm.cfg:11: logger-config: logging is set per process: dgi run -v, --log-format",
        "freedm.cfg:12: factory-port: plug-and-play adapters (a TCP server for devices) have no equivalent here",
        "freedm.cfg:16: verbose: logging is set per process: dgi run -v, --log-format",
        "timings.cfg:12: VVC_PHASE_TIME: Volt-Var control is not a module of this project",
        "timings.cfg:13: VVC_ROUND_TIME: Volt-Var control is not a module of this project",
        "timings.cfg:14: VVC_REQUEST_TIMEOUT: Volt-Var control is not a module of this project",
        "device.xml:22: deviceType SmartLoad: no device type SmartLoad here (types: Desd, Drer, Evse, Fid, Load, Logger, Meter, Omega, Sst); its devices are left out",
        "device.xml:40: deviceType Pump: no device type Pump here (types: Desd, Drer, Evse, Fid, Load, Logger, Meter, Omega, Sst); its devices are left out",
        "adapter.xml:31: adapter loads state 2 (LOAD2 pload): the device file's Load has no such state either (drain)",
        "adapter.xml:31: adapter loads state 2 (LOAD2 pload): no device type here has this: a Load has states drain",
        "adapter.xml:32: adapter loads state 3 (LOAD3 drain): no device type SmartLoad here (types: Desd, Drer, Evse, Fid, Load, Logger, Meter, Omega, Sst)",
        "adapter.xml:33: adapter loads state 4 (LOAD3 pload): no device type SmartLoad here (types: Desd, Drer, Evse, Fid, Load, Logger, Meter, Omega, Sst)",
        "adapter.xml:24: adapter loads: left out: its packets (4 states, 0 commands) cannot keep their layout without the entries noted; its devices are left out",
        'adapter.xml:38: adapter bench (type fake, 1 entry): a fake adapter\'s devices are left out: write them by hand with transport = "fake", a profile and values',
    ]
    header = result.toml.split("\n[site]", 1)[0]
    assert f"# Not carried over ({len(shown)}):" in header
    assert all(f"#   {line}" in header for line in shown)


# -- nodes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hosts", "ids"),
    [
        (["dgi1.lab:51870", "dgi2.lab:51870"], ["dgi1", "dgi2"]),
        (["Raichu.freedm:51870"], ["raichu"]),
        (["127.0.0.1:51871", "127.0.0.1:51872"], ["dgi-51871", "dgi-51872"]),
        (["localhost:51871", "localhost:51872"], ["dgi-51871", "dgi-51872"]),
        (["a.x:1", "a.y:2"], ["a-1", "a-2"]),
        (["a.x:1", "a.y:1"], ["a.x-1", "a.y-1"]),
        (["10.0.0.1:5", "10.0.0.2:5"], ["10.0.0.1-5", "10.0.0.2-5"]),
    ],
    ids=["labels", "lower-case", "addresses", "localhost", "label-port", "host-port", "ip-port"],
)
def test_node_ids_are_readable_and_unique(hosts: list[str], ids: list[str]) -> None:
    cfg = "".join(f"add-host={h}\n" for h in hosts)
    site, _ = run(cfg)
    assert [n["id"] for n in site["nodes"]] == ids
    assert [n["peer"] for n in site["nodes"]] == hosts


def test_api_ports_start_at_the_base() -> None:
    site, _ = run(api_port_base=9000)
    assert [n["api"] for n in site["nodes"]] == ["dgi1.lab:9000", "dgi2.lab:9001", "dgi3.lab:9002"]
    with pytest.raises(ValueError, match=r"65535"):
        run(api_port_base=65534)


def test_a_repeated_add_host_is_noted_and_the_first_kept() -> None:
    site, notes = run("add-host=dgi1.lab:1\nadd-host=DGI1.lab:1\n")
    assert len(site["nodes"]) == 1
    assert whys(notes, "freedm.cfg") == [
        "add-host = DGI1.lab:1: the same DGI as line 1 (FREEDM keeps the first)"
    ]


ONE_SST = rtds_xml(
    rtds_adapter("a", 5001, entry(1, "Sst", "SST1", "gateway"), entry(1, "Sst", "SST1", "gateway"))
)


def devices_of(site: dict[str, Any]) -> dict[str, list[str]]:
    return {n["id"]: [d["id"] for d in n.get("devices", [])] for n in site["nodes"]}


def test_the_devices_go_to_the_dgi_with_the_cfg_port() -> None:
    cfg = "add-host=dgi1.lab:1\nadd-host=dgi2.lab:2\nport=2\n"
    site, notes = run(cfg, ONE_SST)
    assert devices_of(site) == {"dgi1": [], "dgi2": ["SST1"]}
    assert not whys(notes, "freedm.cfg")


def test_local_chooses_the_dgi_and_adds_it_when_no_add_host_names_it() -> None:
    cfg = "add-host=dgi1.lab:1\nadd-host=dgi2.lab:1\n"
    site, _ = run(cfg, ONE_SST, local="DGI2.lab:1")
    assert devices_of(site) == {"dgi1": [], "dgi2": ["SST1"]}
    site, _ = run(cfg, ONE_SST, local="me.lab:7")
    assert devices_of(site) == {"me": ["SST1"], "dgi1": [], "dgi2": []}
    with pytest.raises(ValueError, match="--local"):
        run(cfg, local="nope")


def test_an_ambiguous_local_dgi_is_noted_and_the_first_chosen() -> None:
    site, notes = run("add-host=dgi1.lab:1\nadd-host=dgi2.lab:1\nport=1\n", ONE_SST)
    assert devices_of(site) == {"dgi1": ["SST1"], "dgi2": []}
    assert whys(notes, "freedm.cfg") == [
        "the local DGI: 2 add-host entries have this DGI's port 1: the devices go to "
        "dgi1.lab:1 (--local HOST:PORT chooses)"
    ]


def test_without_add_host_the_site_is_the_dgi_itself() -> None:
    site, notes = run("port=51870\n", ONE_SST)
    assert [(n["id"], n["peer"]) for n in site["nodes"]] == [("dgi-51870", "localhost:51870")]
    assert devices_of(site) == {"dgi-51870": ["SST1"]}
    assert not whys(notes, "freedm.cfg")
    site, _ = run("")
    assert site["nodes"][0]["peer"] == "localhost:1870"  # FREEDM's default port


# -- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "algorithm"),
    [
        ("migration-step=0.5", {"migration_step": 0.5}),
        ("malicious-behavior=true", {"malicious": True}),
        ("malicious-behavior=off", {"malicious": False}),
        ("check-invariant=yes", {"check_invariant": True}),
        ("", {"migration_step": 1.0, "malicious": False, "check_invariant": False}),
    ],
)
def test_algorithm_options(line: str, algorithm: dict[str, Any]) -> None:
    site, _ = run(HOSTS3 + line + "\n")
    assert site["algorithm"]["mode"] == "freedm"
    assert {k: site["algorithm"][k] for k in algorithm} == algorithm


# fmt: off
@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("factory-port=53000", "factory-port: plug-and-play adapters (a TCP server for devices) have no equivalent here"),
        ("logger-config=config/logger.cfg", "logger-config: logging is set per process: dgi run -v, --log-format"),
        ("verbose=8", "verbose: logging is set per process: dgi run -v, --log-format"),
        ("topology-config=config/topology.cfg", "topology-config: FREEDM's topology names uuids: write the site's [site] topology_file with the node ids above (docs/algorithm.md)"),
        ("devices-endpoint=10.0.0.1", "devices-endpoint: adapters connect from the host's default address"),
        ("mqtt-id=DGI", "mqtt-id: the MQTT adapter has no equivalent here"),
        ("mqtt-address=tcp://broker:1883", "mqtt-address: the MQTT adapter has no equivalent here"),
        ("mqtt-subscribe=dev", "mqtt-subscribe: the MQTT adapter has no equivalent here"),
        ("address=10.0.0.1", "address = 10.0.0.1: a node binds the host of its peer address (its add-host entry)"),
        ("migration-step=-1", "migration-step = -1: must be > 0 here; the site keeps FREEDM's default, 1"),
        ("colour=blue", "colour: not a FREEDM option"),
    ],
)
def test_options_without_an_equivalent_are_noted(line: str, why: str) -> None:
    _, notes = run(HOSTS3 + line + "\n")
    assert [(n.line, f"{n.entry}: {n.why}") for n in notes if n.file == "freedm.cfg"] == [(5, why)]
# fmt: on


def test_carried_and_followed_options_are_not_noted() -> None:
    cfg = (
        HOSTS3
        + "address=0.0.0.0\nadapter-config=a.xml\ndevice-config=d.xml\ntimings-config=t.cfg\n"
    )
    _, notes = run(cfg + "[section]\n# a comment\n")
    assert not whys(notes, "freedm.cfg")


@pytest.mark.parametrize(
    ("cfg", "line", "message"),
    [
        ("add-host=dgi1.lab:1\njunk\n", 2, "expected key=value, found 'junk'"),
        ("add-host=dgi1.lab\n", 1, "add-host = 'dgi1.lab': must be host:port"),
        ("add-host=dgi1.lab:0\n", 1, "add-host = 'dgi1.lab:0': must be host:port, port 1..65535"),
        ("add-host=dgi1.lab:70000\n", 1, "add-host = 'dgi1.lab:70000': must be host:port"),
        ("port=x\n", 1, "port = 'x': must be 1..65535"),
        ("malicious-behavior=maybe\n", 1, "malicious-behavior = 'maybe': must be 1 or 0"),
        ("migration-step=two\n", 1, "migration-step = 'two': must be a number"),
    ],
)
def test_a_bad_cfg_is_refused_with_its_line(cfg: str, line: int, message: str) -> None:
    with pytest.raises(FreedmError) as caught:
        run(cfg)
    assert (caught.value.file, caught.value.line, caught.value.message) == (
        "freedm.cfg",
        line,
        message,
    )


# -- timings --------------------------------------------------------------------------------------


def test_timings_that_are_a_freedm_profile_are_named_so() -> None:
    site, notes = run(timings=TIMINGS_SLOW5)
    assert site["timings"] == {"profile": "slow-5"}
    assert not notes
    site, _ = run(timings=TIMINGS_SLOW5.replace("LB_ROUND_TIME=410", "LB_ROUND_TIME=3000"))
    assert site["timings"] == {"profile": "freedm-head"}


def test_missing_unknown_and_vvc_timing_keys_are_noted() -> None:
    text = "GM_PHASE_TIME=600\nVVC_PHASE_TIME=4100\nLB_GLOBAL_TIMER=400\n"
    site, notes = run(timings=text)
    assert site["timings"] == {"profile": "fast-5", "GM_PHASE_TIME": 600}
    shown = whys(notes, "timings.cfg")
    assert shown[:2] == [
        "VVC_PHASE_TIME: Volt-Var control is not a module of this project",
        "LB_GLOBAL_TIMER: not a timing key of this project",
    ]
    assert "SC_PHASE_TIME: missing (FREEDM requires it): fast-5's 80 ms" in shown
    assert len(shown) == 2 + 15


def test_timings_this_site_refuses_are_replaced_and_noted() -> None:
    text = TIMINGS_SLOW5.replace("LB_ROUND_TIME=410", "LB_ROUND_TIME=5000")
    site, notes = run(timings=text)
    assert "LB_ROUND_TIME" not in site["timings"]
    [note] = [n for n in notes if n.entry == "LB_ROUND_TIME"]
    assert note.line == 9
    assert note.why == (
        "must be <= LB_PHASE_TIME (4100 ms): an LB round must fit in the LB phase: "
        "refused here, fast-5's 100 ms instead"
    )


def test_without_a_timings_file_the_default_profile_is_noted() -> None:
    site, notes = run(timings=None)
    assert site["timings"] == {"profile": "fast-5"}
    assert whys(notes) == [
        "timings: none read: the site runs profile fast-5 (FREEDM needs one to start)"
    ]


def test_a_timing_that_is_not_whole_milliseconds_is_refused() -> None:
    with pytest.raises(
        FreedmError, match=r"GM_PHASE_TIME = '1.5': must be a whole number of ms"
    ) as caught:
        run(timings="# x\nGM_PHASE_TIME=1.5\n")
    assert caught.value.line == 2


def test_rtds_delay_and_socket_timeout_go_to_every_adapter() -> None:
    text = TIMINGS_SLOW5.replace("DEV_RTDS_DELAY=50", "DEV_RTDS_DELAY=0").replace(
        "DEV_SOCKET_TIMEOUT=1000", "DEV_SOCKET_TIMEOUT=250"
    )
    site, notes = run(adapters=ONE_SST, timings=text)
    assert (site["rtds"][0]["delay_ms"], site["rtds"][0]["timeout_ms"]) == (1.0, 250.0)
    assert "DEV_RTDS_DELAY: an adapter's delay_ms must be > 0 here: 1 ms" in whys(notes)
    site, _ = run(adapters=ONE_SST, timings=None)
    assert (site["rtds"][0]["delay_ms"], site["rtds"][0]["timeout_ms"]) == (50.0, 1000.0)


# -- adapters -------------------------------------------------------------------------------------


# fmt: off
@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("pnp", "plug-and-play adapters (devices that connect to the DGI) have no equivalent here"),
        ("mqtt", "MQTT adapters have no equivalent here (FREEDM's factory never starts them either)"),
        ("opendss", "OpenDSS adapters have no equivalent here (they feed Volt-Var control only)"),
        ("golbat", "not an adapter type FREEDM or this site has"),
    ],
)
def test_other_adapter_types_are_noted(kind: str, why: str) -> None:
    xml = rtds_xml(f'<adapter name="x" type="{kind}"><state/><command/></adapter>')
    site, notes = run(adapters=xml)
    assert "rtds" not in site
    assert [(n.line, n.entry, n.why) for n in notes] == [(2, f"adapter x (type {kind}, 0 entries)", why)]
# fmt: on


def test_device_names_become_site_names_and_keep_theirs_in_a_comment() -> None:
    xml = rtds_xml(
        rtds_adapter(
            "dgi 1",
            5001,
            entry(1, "Sst", "dgi1:SST.1", "gateway"),
            entry(1, "Sst", "dgi1:SST.1", "gateway"),
        )
    )
    result = convert(Source("freedm.cfg", HOSTS3), adapters=Source("adapter.xml", xml))
    site = tomllib.loads(result.toml)
    assert site["rtds"][0]["name"] == "dgi-1"
    assert site["rtds"][0]["states"][0]["device"] == "dgi1-SST.1"
    assert site["nodes"][0]["devices"][0] == {
        "id": "dgi1-SST.1",
        "type": "Sst",
        "transport": "rtds",
        "adapter": "dgi-1",
    }
    assert 'id = "dgi1-SST.1"  # FREEDM dgi1:SST.1' in result.toml


SST = entry(1, "Sst", "SST1", "gateway")


# fmt: off
@pytest.mark.parametrize(
    ("xml", "why"),
    [
        (rtds_xml(rtds_adapter("a", 1, SST + entry(3, "Drer", "PV", "generation"), SST)),
         "a's states indices must run 1..2 without gaps (they are 1, 3)"),
        (rtds_xml(rtds_adapter("a", 1, SST + entry(1, "Drer", "PV", "generation"), SST)),
         "index 1 twice in a's states"),
        (rtds_xml(rtds_adapter("a", 1, SST)),
         "SST1 (Sst) needs gateway in a's commands"),
        (rtds_xml(rtds_adapter("a", 1, SST, SST), rtds_adapter("b", 1, entry(1, "Drer", "PV", "generation"))),
         "host:port sim:1 is also rtds[0]'s"),
        (rtds_xml(rtds_adapter("a", 1, SST, SST), rtds_adapter("b", 2, SST, SST)),
         "SST1 has adapter = 'a', not 'b'; SST1 is in two adapters (a and b)"),
    ],
    ids=["gap", "duplicate-index", "missing-command", "same-host-port", "device-twice"],
)
def test_adapters_the_site_would_refuse_are_left_out_and_noted(xml: str, why: str) -> None:
    site, notes = run(adapters=xml)
    assert len(site.get("rtds", [])) == (1 if "two adapters" in why or "also rtds" in why else 0)
    [note] = notes
    assert note.why == f"left out: {why}"
# fmt: on


def test_an_entry_of_a_type_or_signal_this_site_lacks_leaves_its_adapter_out() -> None:
    xml = rtds_xml(
        rtds_adapter(
            "a",
            1,
            SST + entry(2, "Drer", "PV", "generation"),
            SST + entry(2, "Drer", "PV", "generation"),
        ),
        rtds_adapter("b", 2, entry(1, "Pump", "P1", "flow")),
        rtds_adapter(
            "c",
            3,
            entry(1, "Sst", "S3", "gateway") + entry(2, "Drer", "S3", "generation"),
            entry(1, "Sst", "S3", "gateway"),
        ),
    )
    site, notes = run(adapters=xml)
    assert "rtds" not in site
    assert whys(notes) == [
        "adapter a command 2 (PV generation): no device type here has this: a Drer has commands none",
        "adapter a: left out: its packets (2 states, 2 commands) cannot keep their layout without the entries noted; its devices are left out",
        "adapter b state 1 (P1 flow): no device type Pump here (types: Desd, Drer, Evse, Fid, Load, Logger, Meter, Omega, Sst)",
        "adapter b: left out: its packets (1 states, 0 commands) cannot keep their layout without the entries noted; its devices are left out",
        "adapter c state 2 (S3 generation): S3 is a Drer here and a Sst on line 4",
        "adapter c: left out: its packets (2 states, 1 commands) cannot keep their layout without the entries noted; its devices are left out",
    ]


# fmt: off
@pytest.mark.parametrize(
    ("xml", "line", "message"),
    [
        ("<root><adapter", 1, "malformed XML: unclosed token: line 1, column 6"),
        ("<adapters/>", 1, "document element <adapters>; expected <root>"),
        ("<root>\n<device/></root>", 2, "<device> in <root>; only <adapter>"),
        ('<root>\n<adapter type="rtds"/></root>', 2, 'an <adapter> needs name="..." and type="..."'),
        ('<root>\n<adapter name="a" type="rtds"><state/><command/></adapter></root>', 2, "<adapter> has no <info>; it needs one"),
        (rtds_xml(rtds_adapter("a", 70000, SST)), 2, "<port>70000: must be 1..65535"),
        (rtds_xml('<adapter name="a" type="rtds"><info><host>h</host><port>1</port></info><state/><state/><command/></adapter>'), 2, "<adapter> has more than one <state>; it needs one"),
        (rtds_xml(rtds_adapter("a", 1, '<entry index="1"><type>Sst</type><device>S</device></entry>')), 2, "an <entry> without <signal>"),
        (rtds_xml(rtds_adapter("a", 1, '<entry index="x"><type>Sst</type><device>S</device><signal>gateway</signal></entry>')), 2, '<entry index="x">: must be 1, 2, ...'),
        (rtds_xml(rtds_adapter("a", 1, '<entry index="1"><type>Sst</type><type>Sst</type><device>S</device><signal>gateway</signal></entry>')), 2, "an <entry> holds exactly <type>, <device>, <signal>"),
        (rtds_xml(rtds_adapter("a", 1, '<entry index="1"><type></type><device>S</device><signal>gateway</signal></entry>')), 2, "<type> is empty"),
    ],
    ids=["malformed", "root", "other-tag", "no-name", "no-info", "port", "two-states", "no-signal", "index", "two-types", "empty"],
)
def test_a_bad_adapter_file_is_refused_with_its_line(xml: str, line: int, message: str) -> None:
    with pytest.raises(FreedmError) as caught:
        run(adapters=xml)
    assert (caught.value.file, caught.value.line, caught.value.message) == ("adapter.xml", line, message)
# fmt: on


# -- device.xml -----------------------------------------------------------------------------------


def device_type(name: str, *parts: str) -> str:
    return f"<deviceType><id>{name}</id>{''.join(parts)}</deviceType>\n"


def test_device_types_are_compared_with_this_sites_inheritance_included() -> None:
    xml = (
        "<root>\n"
        + "".join(
            [
                device_type("Base", "<state>gateway</state>"),
                device_type("Sst", "<extends>Base</extends>", "<command>gateway</command>"),
                device_type("Drer", "<state>generation</state>", "<command>generation</command>"),
                device_type("Desd", "<state>storage</state>", "<state>soc</state>"),
            ]
        )
        + "</root>\n"
    )
    _, notes = run(devices=xml)
    assert [(n.line, f"{n.entry}: {n.why}") for n in notes] == [
        (
            2,
            "deviceType Base: no device type Base here (types: Desd, Drer, Evse, Fid, Load, Logger, Meter, Omega, Sst); its devices are left out",
        ),
        (4, "deviceType Drer: a Drer here has no command generation (commands: )"),
        (5, "deviceType Desd: a Desd here needs command storage, which FREEDM's Desd lacks"),
    ]


def test_an_entry_the_device_file_does_not_define_is_noted() -> None:
    xml = "<root>" + device_type("Sst", "<state>gateway</state>") + "</root>"
    _, notes = run(adapters=ONE_SST + "\n", devices=xml)
    assert (
        "adapter a command 1 (SST1 gateway): the device file's Sst has no such command either (none)"
        in whys(notes)
    )
    _, notes = run(adapters=ONE_SST, devices="<root/>")
    assert "adapter a state 1 (SST1 gateway): device type Sst is not in the device file" in whys(
        notes
    )


# fmt: off
@pytest.mark.parametrize(
    ("xml", "line", "message"),
    [
        ("<root>\n<deviceType><id>A</id>\n<id>B</id></deviceType></root>", 2, "a <deviceType> needs exactly one <id>"),
        ("<root>\n" + device_type("A") + device_type("A") + "</root>", 3, "device type A defined twice"),
        ("<root>\n" + device_type("A", "<extends>B</extends>") + "</root>", 2, "A extends B, which is not defined"),
        ("<root>\n" + device_type("A", "<extends>B</extends>") + device_type("B", "<extends>A</extends>") + "</root>", 2, "device type A inherits from itself"),
        ("<root>\n<deviceType><id>A</id><state>x</state>\n<state>x</state></deviceType></root>", 3, "<state>x twice in one type"),
        ("<root>\n<deviceType><id>A</id>\n<colour>x</colour></deviceType></root>", 3, "<colour> in a <deviceType>"),
        ("<root>\n<deviceType><id>A</id>\n<state><x/></state></deviceType></root>", 3, "<state> must hold text, not elements"),
        ("<root>\n<device/></root>", 2, "<device> in <root>; only <deviceType>"),
    ],
    ids=["two-ids", "twice", "undefined-parent", "cycle", "duplicate-signal", "other-tag", "nested", "root-child"],
)
def test_a_bad_device_file_is_refused_with_its_line(xml: str, line: int, message: str) -> None:
    with pytest.raises(FreedmError) as caught:
        run(devices=xml)
    assert (caught.value.file, caught.value.line, caught.value.message) == ("device.xml", line, message)
# fmt: on
