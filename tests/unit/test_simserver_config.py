"""The simulation server's pure parts: its bad-config table (one bad file per defect of
HIL.md §4 that applies to a server), the example, the packet codecs and the shared cells."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from config.errors import ConfigError
from config.simulation import SstSim
from controller.cli.app import app
from hil.cells import NO_VALUE, Cells
from hil.config import SimServerConfig
from hil.loader import load_simserver_config
from hil.protocols import (
    ProtocolError,
    decode_float32_be,
    encode_float32_be,
    encode_header,
    parse_request,
)
from tests.conftest import EXAMPLES

Doc = dict[str, Any]


def entry(index: int, device: str, kind: str, signal: str, **extra: Any) -> dict[str, Any]:
    return {"index": index, "device": device, "type": kind, "signal": signal, **extra}


def base() -> Doc:
    return {
        "adapters": [
            {
                "name": "a",
                "type": "rtds",
                "port": 5001,
                "states": [entry(1, "gw", "Sst", "gateway"), entry(2, "pv", "Drer", "generation")],
                "commands": [entry(1, "gw", "Sst", "gateway")],
            },
            {
                "name": "sim",
                "type": "simulation",
                "port": 5000,
                "states": [entry(1, "gw", "Sst", "gateway")],
                "commands": [entry(1, "gw", "Sst", "gateway")],
            },
        ]
    }


def render(doc: Doc) -> str:
    """TOML of a document of this shape (the test writes its files as a person would)."""

    def scalar(value: Any) -> str:
        if isinstance(value, dict):
            return "{ " + ", ".join(f"{k} = {scalar(v)}" for k, v in value.items()) + " }"
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        return f'"{value}"' if isinstance(value, str) else repr(value)

    lines: list[str] = []
    for key, value in doc.items():
        if key == "modbus":
            for item in value:
                lines += ["[[modbus]]", *(f"{k} = {scalar(v)}" for k, v in item.items()), ""]
        elif key != "adapters":
            tables = {k: v for k, v in value.items() if k == "devices"}
            lines += [f"[{key}]", *(f"{k} = {scalar(v)}" for k, v in value.items()
                                    if k not in tables), ""]  # fmt: skip
            for device, body in tables.get("devices", {}).items():
                lines += [f"[{key}.devices.{device}]", *(f"{k} = {scalar(v)}"
                                                          for k, v in body.items()), ""]  # fmt: skip
    for adapter in doc.get("adapters", []):
        lines.append("[[adapters]]")
        tables = {k: v for k, v in adapter.items() if isinstance(v, list)}
        lines += [f"{k} = {scalar(v)}" for k, v in adapter.items() if k not in tables]
        lines += [f"{k} = []" for k, v in tables.items() if not v]
        lines.append("")
        for table, entries in tables.items():
            for item in entries:
                lines += [f"[[adapters.{table}]]", *(f"{k} = {scalar(v)}" for k, v in item.items())]
                lines.append("")
    return "\n".join(lines)


def at(path: str) -> Callable[[Doc], Any]:
    """``at("0.states.1")`` → that part of a document."""

    def get(doc: Doc) -> Any:
        node: Any = doc["adapters"]
        for part in path.split("."):
            node = node[int(part)] if part.isdigit() else node[part]
        return node

    return get


def setting(path: str, key: str, value: Any) -> Callable[[Doc], None]:
    return lambda doc: at(path)(doc).__setitem__(key, value)


def removing(path: str, key: str) -> Callable[[Doc], None]:
    return lambda doc: at(path)(doc).pop(key)


def both(*changes: Callable[[Doc], None]) -> Callable[[Doc], None]:
    def apply(doc: Doc) -> None:
        for change in changes:
            change(doc)

    return apply


def exposing(*exposures: dict[str, Any]) -> Callable[[Doc], None]:
    return lambda doc: doc.__setitem__("modbus", list(exposures))


def planting(**plant: Any) -> Callable[[Doc], None]:
    """A [plant] (PSCAD's port simulates gw, so the plant leaves it alone unless told)."""
    return lambda doc: doc.__setitem__("plant", {"exclude": ["gw"], **plant})


# (defect, change to the good file, what the message must say)
BAD: list[tuple[str, Callable[[Doc], None], str]] = [
    (
        "unknown adapter type",
        setting("0", "type", "golbat"),
        "adapters[0].type = 'golbat': unknown adapter type; must be rtds or simulation",
    ),
    (
        "no state table",
        removing("1", "states"),
        "adapters[1].states: required key missing: every adapter has a state table",
    ),
    (
        "no command table",
        removing("0", "commands"),
        "adapters[0].commands: required key missing: every adapter has a command table",
    ),
    (
        "state indices 1, 3",
        setting("0.states.1", "index", 3),
        "adapters[0].states: indices must be consecutive from 1; found 1, 3",
    ),
    (
        "command index 2 alone",
        setting("0.commands.0", "index", 2),
        "adapters[0].commands: indices must be consecutive from 1; found 2",
    ),
    (
        "duplicate state index",
        setting("0.states.1", "index", 1),
        "adapters[0].states[1].index = 1: duplicate index (also states[0])",
    ),
    (
        "duplicate command index",
        lambda d: at("1.commands")(d).append(entry(1, "st", "Desd", "storage")),
        "adapters[1].commands[1].index = 1: duplicate index (also commands[0])",
    ),
    (
        "(device, signal) twice in a table",
        lambda d: at("0.states")(d).append(entry(3, "gw", "Sst", "gateway")),
        "adapters[0].states[2]: ('gw', 'gateway') is already in this table at states[0]",
    ),
    (
        "one device, two types",
        setting("0.states.1", "device", "gw"),
        "adapters[0].states[1].type = 'Drer': device 'gw' is a Sst at adapters[0].states[0]; one device name has one type",
    ),
    (
        "one device, two types across adapters",
        setting("1.states.0", "type", "Desd"),
        "adapters[1].states[0].type = 'Desd': device 'gw' is a Sst at adapters[0].states[0]",
    ),
    (
        "entry without type",
        removing("0.states.0", "type"),
        "adapters[0].states[0].type: required key missing",
    ),
    (
        "entry without device",
        removing("0.commands.0", "device"),
        "adapters[0].commands[0].device: required key missing",
    ),
    (
        "entry without signal",
        removing("1.states.0", "signal"),
        "adapters[1].states[0].signal: required key missing",
    ),
    (
        "entry with an extra field",
        setting("0.states.0", "unit", "kW"),
        "adapters[0].states[0].unit: unknown key; an entry has index, device, type, signal, value",
    ),
    (
        "signal the type lacks",
        setting("0.states.0", "signal", "generation"),
        "adapters[0].states[0].signal = 'generation': device type Sst has no state 'generation' (states: gateway)",
    ),
    (
        "a state as a command",
        lambda d: at("0.commands")(d).append(entry(2, "pv", "Drer", "generation")),
        "adapters[0].commands[1].signal = 'generation': device type Drer has no command 'generation' (commands: none)",
    ),
    (
        "undefined device type",
        setting("0.states.1", "type", "PV"),
        "adapters[0].states[1].type = 'PV': unknown device type; known: Desd, Drer, Evse",
    ),
    (
        "two adapters, one name",
        setting("1", "name", "a"),
        "adapters[1].name = 'a': two adapters share this name (also adapters[0])",
    ),
    (
        "two adapters, one port",
        setting("1", "port", 5001),
        "adapters[1].port = 5001: two adapters listen on the same port (also adapters[0])",
    ),
    (
        "one port, any host and a wildcard",
        both(setting("1", "port", 5001), setting("1", "host", "0.0.0.0")),
        "adapters[1].port = 5001: two adapters listen on the same port",
    ),
    (
        "conflicting initial values",
        both(setting("0.states.0", "value", 1.0), setting("1.states.0", "value", 2.0)),
        "adapters[1].states[0].value = 2.0: conflicts with the initial value 1.0 of the same cell at adapters[0].states[0]",
    ),
    (
        "port out of range",
        setting("0", "port", 70000),
        "adapters[0].port = 70000: must be an integer 0..65535",
    ),
    (
        "index 0",
        setting("0.commands.0", "index", 0),
        "adapters[0].commands[0].index = 0: must be an integer >= 1",
    ),
    (
        "unknown adapter key",
        setting("0", "baud", 9600),
        "adapters[0].baud: unknown key; allowed: name, type, port, host",
    ),
    ("no adapters", lambda d: d.pop("adapters"), "adapters: required key missing"),
    # [[modbus]] and [plant] (hil.extensions)
    (
        "unknown profile",
        exposing({"device": "pv", "profile": "golbat", "port": 5002}),
        "modbus[0].profile = 'golbat': unknown profile; shipped: desd, drer,",
    ),
    (
        "profile of another device type",
        exposing({"device": "pv", "profile": "sst", "port": 5002}),
        "modbus[0].profile = 'sst': profile sst-gateway-v1 is for device type Sst; 'pv' is a "
        "Drer in the adapters' tables",
    ),
    (
        "modbus on an adapter's port",
        exposing({"device": "pv", "profile": "drer", "port": 5001}),
        "modbus[0].port = 5001: adapter adapters[0] listens on this port; a Modbus exposure "
        "needs a port of its own",
    ),
    (
        "one unit id twice on a port",
        exposing(
            {"device": "pv", "profile": "drer", "port": 5002},
            {"device": "gw", "profile": "sst", "port": 5002},
        ),
        "modbus[1].unit = 1: port 5002 serves unit 1 already (modbus[0]); devices sharing a "
        "port need distinct unit ids",
    ),
    (
        "one device exposed twice",
        exposing(
            {"device": "pv", "profile": "drer", "port": 5002},
            {"device": "pv", "profile": "drer", "port": 5003},
        ),
        "modbus[1].device = 'pv': already served by modbus[0]; one exposure per device",
    ),
    (
        "modbus device in no adapter",
        exposing({"device": "ghost", "profile": "drer", "port": 5002}),
        "modbus[0].device = 'ghost': not a device of any adapter's table; devices: gw, pv",
    ),
    (
        "modbus without a profile",
        exposing({"device": "pv", "port": 5002}),
        "modbus[0].profile: required key missing: a profile of config/profiles/",
    ),
    (
        "modbus unit out of range",
        exposing({"device": "pv", "profile": "drer", "port": 5002, "unit": 256}),
        "modbus[0].unit = 256: must be an integer 0..255 (the Modbus unit id)",
    ),
    (
        "unknown modbus key",
        exposing({"device": "pv", "profile": "drer", "port": 5002, "baud": 9600}),
        "modbus[0].baud: unknown key; allowed: device, profile, port, unit, host",
    ),
    (
        "tick_s 0",
        planting(tick_s=0),
        "plant.tick_s = 0: must be a number > 0 and <= 60 (seconds per plant step)",
    ),
    (
        "tick_s a word",
        planting(tick_s="fast"),
        "plant.tick_s = 'fast': must be a number > 0 and <= 60",
    ),
    ("negative droop", planting(droop=-0.1), "plant.droop = -0.1: must be a number >= 0"),
    (
        "plant and PSCAD simulating one device",
        planting(exclude=[]),
        "adapters[1].states[0]: ('gw', 'gateway') is a state the built-in plant writes; "
        "PSCAD's SET would overwrite it: a device is simulated by the plant or by PSCAD",
    ),
    (
        "plant device in no adapter",
        planting(devices={"ghost": {"node": "n1"}}),
        "plant.devices.ghost = 'ghost': not a device of any adapter's table; devices: gw, pv",
    ),
    (
        "plant exclude names no device",
        planting(exclude=["gw", "ghost"]),
        "plant.exclude[1] = 'ghost': not a device of any adapter's table",
    ),
    (
        "plant settings of an excluded device",
        planting(devices={"gw": {"node": "n1"}}),
        "plant.devices.gw = 'gw': the device is in [plant] exclude; drop one of the two",
    ),
    (
        "plant profile of another type",
        planting(devices={"pv": {"profile": "load"}}),
        "plant.devices.pv.profile = 'load': profile load-meter-v1 is for device type Load",
    ),
    (
        "plant sim table with another type's key",
        planting(devices={"pv": {"sim": {"initial_kw": 5.0}}}),
        "plant.devices.pv.sim.initial_kw",
    ),
    (
        "every device excluded",
        planting(exclude=["gw", "pv"]),
        "plant.exclude: every device is excluded: the plant has nothing to run",
    ),
    (
        "unknown plant key",
        planting(speed=2),
        "plant.speed: unknown key; allowed: tick_s, nominal_frequency, droop",
    ),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_each_defect_is_refused_naming_file_entry_and_rule(
    change: Callable[[Doc], None], expected: str, tmp_path: Path
) -> None:
    doc = base()
    change(doc)
    path = tmp_path / "bad.toml"
    path.write_text(render(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_simserver_config(path)
    messages = [str(issue) for issue in caught.value.issues]
    assert any(expected in m for m in messages), messages
    assert all(m.startswith(f"{path}:") for m in messages), messages
    if not expected.startswith("adapters:"):  # a missing list has no line to point at
        assert all(issue.line for issue in caught.value.issues), messages  # file:line


def test_the_good_file_loads() -> None:
    doc = base()
    config = _load(render(doc))
    assert [a.name for a in config.adapters] == ["a", "sim"]
    assert config.adapter("a").state_keys == (("gw", "gateway"), ("pv", "generation"))
    assert config.adapter("a").host == "127.0.0.1"


def _load(text: str) -> SimServerConfig:
    import tomllib

    from hil.config import check_document

    return check_document(tomllib.loads(text), text, "t.toml")


def test_the_line_is_the_entry_s() -> None:
    doc = base()
    setting("0.states.1", "type", "PV")(doc)
    text = render(doc)
    with pytest.raises(ConfigError) as caught:
        _load(text)
    (issue,) = caught.value.issues
    assert text.splitlines()[issue.line - 1] == 'type = "PV"'  # type: ignore[operator]


def test_malformed_syntax_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(render(base()).replace("[[adapters.states]]", "[[adapters.states]", 1))
    with pytest.raises(ConfigError) as caught:
        load_simserver_config(path)
    (issue,) = caught.value.issues
    assert "malformed TOML" in str(issue)
    assert issue.line


def test_entries_sit_in_index_order_whatever_the_file_order() -> None:
    doc = base()
    states = at("0.states")(doc)
    states.reverse()
    config = _load(render(doc))
    assert [e.index for e in config.adapter("a").states] == [1, 2]


def test_empty_tables_are_allowed() -> None:
    doc = base()
    at("0")(doc)["commands"] = []
    assert _load(render(doc)).adapter("a").commands == ()


def test_cli_lists_every_error_at_once_and_exits_1(tmp_path: Path) -> None:
    doc = base()
    setting("0", "type", "golbat")(doc)
    setting("1.states.0", "signal", "drain")(doc)
    path = tmp_path / "two.toml"
    path.write_text(render(doc))
    result = CliRunner().invoke(app, ["simserver", "--config", str(path)])
    assert result.exit_code == 1
    assert "unknown adapter type" in result.output
    assert "device type Sst has no state 'drain'" in result.output
    assert "2 error(s); refusing to start" in result.output


def test_the_example_loads_with_the_union_on_the_simulation_port() -> None:
    config = load_simserver_config(EXAMPLES / "simserver.toml")
    rtds = [a for a in config.adapters if a.type == "rtds"]
    (sim,) = [a for a in config.adapters if a.type == "simulation"]
    assert [a.name for a in rtds] == ["sst1", "sst2", "sst3"]
    assert set(sim.state_keys) == {k for a in rtds for k in a.state_keys}
    assert set(sim.command_keys) == {k for a in rtds for k in a.command_keys}
    assert ("sst2-omega", "frequency") in sim.state_keys
    result = CliRunner().invoke(
        app, ["simserver", "--config", str(EXAMPLES / "simserver.toml"), "--check"]
    )
    assert result.exit_code == 0
    assert "OK" in result.output


# --- packets ---------------------------------------------------------------------------


def test_the_plant_example_loads_with_sst3_over_modbus() -> None:
    config = load_simserver_config(EXAMPLES / "simserver-plant.toml")
    assert config.plant is not None
    assert len(config.plant.devices) == 18  # every device of the three rtds adapters
    gateway = next(d for d in config.plant.devices if d.device == "sst2-gateway")
    assert gateway.node == "sst2"
    assert gateway.sim == SstSim(initial_kw=10.0, lag_s=0.2)
    assert gateway.profile.name == "sst-gateway-v1"
    assert [(m.device, m.port, m.unit) for m in config.modbus] == [
        (f"sst3-{name}", 15513, unit)
        for unit, name in enumerate(("gateway", "storage", "pv", "load", "logger", "omega"), 1)
    ]
    (pscad,) = [a for a in config.adapters if a.type == "simulation"]
    assert (len(pscad.states), len(pscad.commands)) == (0, 9)


def test_rtds_packets_are_big_endian_float32() -> None:
    assert encode_float32_be([1.0, NO_VALUE]) == struct.pack(">ff", 1.0, 1e8)
    assert decode_float32_be(b"\x3f\x80\x00\x00") == [1.0]
    assert decode_float32_be(encode_float32_be([NO_VALUE])) == [NO_VALUE]  # 1e8 is exact
    assert decode_float32_be(encode_float32_be([1e300, -1e39])) == [math.inf, -math.inf]


def test_simulation_requests() -> None:
    set_request = encode_header("SET") + struct.pack("<2d", 1.5, -2.0)
    assert encode_header("SET") == b"SET\0\0"
    request = parse_request(set_request, 2, complete=False)
    assert request is not None
    assert request.verb == "SET"
    assert request.values == (1.5, -2.0)
    assert parse_request(set_request[:9], 2, complete=False) is None  # more to come
    get = parse_request(b"GET\0\0", 2, complete=False)
    assert get is not None
    assert get.verb == "GET"
    assert get.values == ()


@pytest.mark.parametrize(
    ("data", "complete", "rule"),
    [
        (b"PUT\0\0", False, "unknown verb"),
        (b"SETX\0" + bytes(16), False, "unknown verb"),
        (b"SE", True, "short header"),
        (b"SET\0\0" + bytes(12), True, "short SET payload: 12 of 16 bytes"),
        (b"RST\0\0" + bytes(24), False, "RST payload of 24 bytes; expected 16"),
        (b"GET\0\0\0", False, "GET payload of 1 bytes; expected 0"),
    ],
)
def test_bad_requests(data: bytes, complete: bool, rule: str) -> None:
    with pytest.raises(ProtocolError, match=rule.replace("(", r"\(")):
        parse_request(data, 2, complete=complete)


# --- cells -----------------------------------------------------------------------------


def test_cells_ignore_no_value_commands_and_rst_copies_states() -> None:
    a, b = ("gw", "gateway"), ("pv", "generation")
    cells = Cells.for_keys([a, b], [a], initial_states={b: 4.0})
    heard: list[tuple[str, tuple[str, str], float]] = []
    cells.subscribe(lambda table, key, value: heard.append((table, key, value)))
    assert cells.read_states([a, b]) == [NO_VALUE, 4.0]
    assert cells.store_commands([a], [NO_VALUE]) == 0
    assert cells.command(a) == NO_VALUE
    assert cells.store_commands([a], [3.5]) == 1
    assert cells.command(a) == 3.5
    cells.reset([a, b], [10.0, 20.0])
    assert cells.command(a) == 10.0
    assert b not in cells.commands  # no command table has it: RST adds no cell
    assert ("command", a, 10.0) in heard
    assert ("state", b, 20.0) in heard
    assert not math.isnan(cells.state(("x", "y")))


# --- the original's XML ------------------------------------------------------------------

GOOD_XML = """\
<?xml version="1.0"?>
<root>
  <adapter type="simulation" port="5000">
    <state>
      <entry index="1"><device>SST1</device><signal>gateway</signal><value>111.11</value></entry>
      <entry index="2"><device>DESD1</device><signal>storage</signal></entry>
    </state>
    <command>
      <entry index="1"><device>SST1</device><signal>gateway</signal></entry>
    </command>
  </adapter>
  <adapter type="rtds" port="50001">
    <state>
      <entry index="1"><device>SST1</device><signal>gateway</signal></entry>
    </state>
    <command/>
  </adapter>
</root>
"""


def test_the_original_xml_loads_with_names_and_types_filled_in(tmp_path: Path) -> None:
    path = tmp_path / "simserv.xml"
    path.write_text(GOOD_XML)
    config = load_simserver_config(path)
    assert [(a.name, a.type, a.port) for a in config.adapters] == [
        ("simulation-5000", "simulation", 5000),
        ("rtds-50001", "rtds", 50001),
    ]
    sim = config.adapter("simulation-5000")
    assert [(e.device, e.type, e.signal, e.value) for e in sim.states] == [
        ("SST1", "Sst", "gateway", 111.11),
        ("DESD1", "Desd", "storage", None),
    ]
    assert config.adapter("rtds-50001").commands == ()


# fmt: off
XML_BAD = [
    ("unclosed tag", GOOD_XML.replace("</root>", ""), "malformed XML", None),
    ("two state tables", GOOD_XML.replace("<command/>", "<state/>"), "adapters[1].states: more than one <state> table", 16),
    ("no command table", GOOD_XML.replace("    <command/>\n", ""), "adapters[1].commands: required key missing: every adapter has a command table (an empty one is written <command/>)", 12),
    ("a signal of no type", GOOD_XML.replace("<signal>storage</signal>", "<signal>pload</signal>"), "adapters[0].states[1].type: required key missing: the original's XML has no <type>", 6),
    ("an entry with two devices", GOOD_XML.replace("<device>DESD1</device>", "<device>A</device><device>B</device>"), "adapters[0].states[1].device: more than one <device> in an entry", 6),
    ("indices 1, 3", GOOD_XML.replace('index="2"', 'index="3"'), "adapters[0].states: indices must be consecutive from 1; found 1, 3", 4),
    ("unknown adapter type", GOOD_XML.replace('type="rtds"', 'type="golbat"'), "adapters[1].type = 'golbat': unknown adapter type", 12),
    ("one port twice", GOOD_XML.replace('port="50001"', 'port="5000"'), "adapters[1].port = 5000: two adapters listen on the same port", 12),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "expected", "line"), [c[1:] for c in XML_BAD], ids=[c[0] for c in XML_BAD]
)
def test_the_xml_is_refused_with_its_line(
    text: str, expected: str, line: int | None, tmp_path: Path
) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_simserver_config(path)
    found = [i for i in caught.value.issues if expected in str(i)]
    assert found, [str(i) for i in caught.value.issues]
    if line is not None:
        assert found[0].line == line, str(found[0])
    else:
        assert found[0].line
