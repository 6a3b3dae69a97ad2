"""The bad-config table: each defect is refused by ``dgi check-config`` with a clear message."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from config.errors import ConfigError
from config.loader import load_site
from controller.cli.app import app
from tests.conftest import EXAMPLE_NAMES

PROFILE = """\
[profile]
name = "test-sst"
device_type = "Sst"

[[point]]
name = "gateway"
table = "holding"
address = 0
type = "float32"
access = "r"

[[point]]
name = "pstar"
signal = "gateway"
role = "command"
table = "holding"
address = 2
type = "float32"
access = "rw"
min = -10.0
max = 10.0
"""

SITE = """\
[site]
name = "t"

[[nodes]]
id = "a"
api = "127.0.0.1:8001"
peer = "127.0.0.1:9001"

[[nodes.devices]]
id = "gw"
type = "Sst"
transport = "modbus_tcp"
host = "127.0.0.1"
port = 1502
profile = "p.toml"
"""

SECOND_NODE = """
[[nodes]]
id = "b"
api = "127.0.0.1:8002"
peer = "127.0.0.1:9002"

[[nodes.devices]]
id = "gw2"
type = "Sst"
transport = "modbus_tcp"
host = "127.0.0.1"
port = 1503
profile = "p.toml"
"""


RTU_DEVICE = """
[[nodes.devices]]
id = "rtu-gw-1"
type = "Sst"
transport = "modbus_rtu"
serial_port = "/dev/ttyUSB0"
baudrate = 19200
unit = 1
profile = "p.toml"
"""
RTU_SITE = SITE.replace('id = "gw"', 'id = "tcp-gw"') + RTU_DEVICE.replace("rtu-gw-1", "rtu-gw-0")

#: a second device behind gw's gateway (unit 2) with its own timeout
SLOW_UNIT_2 = """
[[nodes.devices]]
id = "gw-unit-2"
type = "Sst"
transport = "modbus_tcp"
host = "127.0.0.1"
port = 1502
unit = 2
timeout_s = 3.0
profile = "p.toml"
"""


def grid(line: str) -> str:
    """The two-node site with a ``[grid]`` table holding ``line``."""
    return sub(SITE, "[[nodes]]", f"[grid]\n{line}\n\n[[nodes]]") + SECOND_NODE


#: an EV charger over OCPP: it connects to node a's central system at 127.0.0.1:1600
OCPP_DEVICE = """
[[nodes.devices]]
id = "cp1"
type = "Evse"
transport = "ocpp"
host = "127.0.0.1"
port = 1600
"""
OCPP_SITE = SITE + OCPP_DEVICE


RTDS_SITE = """\
[site]
name = "t"

[[rtds]]
name = "a1"
port = 5001
states = [
  { index = 1, device = "gw", signal = "gateway" },
  { index = 2, device = "pv", signal = "generation" },
]
commands = [{ index = 1, device = "gw", signal = "gateway" }]

[[nodes]]
id = "a"
api = "127.0.0.1:8001"
peer = "127.0.0.1:9001"

[[nodes.devices]]
id = "gw"
type = "Sst"
transport = "rtds"
adapter = "a1"

[[nodes.devices]]
id = "pv"
type = "Drer"
transport = "rtds"
adapter = "a1"
"""
SECOND_ADAPTER = """
[[rtds]]
name = "a2"
port = 5002
states = []
commands = []
"""


def sub(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# (id, site text, profile text, expected message pattern)
CASES = [
    ("overlapping-registers", SITE, sub(PROFILE, "address = 2", "address = 1"),
     r"p\.toml:17: point\[1\]\.address = 1: overlaps point 'gateway' at holding\[1\]"),
    ("address-out-of-range", SITE, sub(PROFILE, "address = 0", "address = 70000"),
     r"p\.toml:8: point\[0\]\.address = 70000: must be 0\.\.65535"),
    ("negative-address", SITE, sub(PROFILE, "address = 0", "address = -1"),
     r"point\[0\]\.address = -1: must be 0\.\.65535"),
    ("multi-register-does-not-fit", SITE, sub(PROFILE, "address = 2", "address = 65535"),
     r"point\[1\]\.address = 65535: float32 needs 2 registers from 65535: past the last address 65535"),
    ("word-order-on-16-bit", SITE, sub(PROFILE, 'type = "float32"\naccess = "r"', 'type = "int16"\naccess = "r"\nword_order = "CDAB"'),
     r"point\[0\]\.word_order = 'CDAB': word order applies to 32- and 64-bit types; int16 is one register"),
    ("unknown-table", SITE, sub(PROFILE, 'table = "holding"', 'table = "holdings"'),
     r"point\[0\]\.table = 'holdings': must be one of holding, input, coil, discrete_input"),
    ("unknown-type", SITE, sub(PROFILE, 'type = "float32"', 'type = "float16"'),
     r"point\[0\]\.type = 'float16': must be one of int16, uint16, int32, uint32, float32, float64, bool"),
    ("unknown-access", SITE, sub(PROFILE, 'access = "r"', 'access = "x"'),
     r"point\[0\]\.access = 'x': must be one of r, w, rw"),
    ("unknown-word-order", SITE, sub(PROFILE, 'device_type = "Sst"', 'device_type = "Sst"\nword_order = "ABDC"'),
     r"profile\.word_order = 'ABDC': must be one of ABCD, CDAB, BADC, DCBA"),
    ("unknown-device-type-in-profile", SITE, sub(PROFILE, 'device_type = "Sst"', 'device_type = "Transformer"'),
     r"p\.toml:3: profile\.device_type = 'Transformer': unknown device type; known: Desd, Drer, Evse, Fid, Load, Logger, Meter, Omega, Sst"),
    ("unknown-device-type-in-site", sub(SITE, 'type = "Sst"', 'type = "Transformer"'), PROFILE,
     r"site\.toml:11: nodes\[0\]\.devices\[0\]\.type = 'Transformer': unknown device type"),
    ("profile-missing-a-command", SITE, PROFILE.split("[[point]]\nname = \"pstar\"")[0],
     r"point: device type Sst needs a point for command 'gateway'; none provides it"),
    ("signal-not-of-device-type", SITE, sub(PROFILE, 'name = "gateway"', 'name = "generation"'),
     r"point\[0\]\.name = 'generation': device type Sst has no signal 'generation'; its signals: gateway"),
    ("writable-without-min", SITE, sub(PROFILE, "min = -10.0\n", ""),
     r"p\.toml:\d+: point\[1\]\.min: a writable point needs min and max"),
    ("min-above-max", SITE, sub(PROFILE, "min = -10.0", "min = 20.0"),
     r"point\[1\]\.min = 20\.0: must be <= max \(10\.0\)"),
    ("failsafe-outside-limits", SITE, sub(PROFILE, "max = 10.0", "max = 10.0\nfailsafe = 50.0"),
     r"point\[1\]\.failsafe = 50\.0: must be within min\.\.max \(-10\.0\.\.10\.0\)"),
    ("writable-input-register", SITE, sub(PROFILE, 'table = "holding"\naddress = 2', 'table = "input"\naddress = 2'),
     r"point\[1\]\.access = 'rw': table input is read-only: access must be 'r'"),
    ("float-in-coil-table", SITE, sub(PROFILE, 'table = "holding"', 'table = "coil"'),
     r"point\[0\]\.type = 'float32': table coil holds bool points only"),
    ("duplicate-point-name", SITE, sub(PROFILE, 'name = "pstar"', 'name = "gateway"'),
     r"point\[1\]\.name = 'gateway': duplicate point name \(also point\[0\]\)"),
    ("unknown-key-in-profile", SITE, sub(PROFILE, 'access = "r"', 'access = "r"\nscael = 2.0'),
     r"p\.toml:11: point\[0\]\.scael = 2\.0: unknown key \(did you mean 'scale'\?\)"),
    ("malformed-profile", SITE, sub(PROFILE, 'access = "r"', "access = r"),
     r"p\.toml:10: \(file\): malformed TOML: .*line 10"),
    ("duplicate-node-id", SITE + sub(SECOND_NODE, 'id = "b"', 'id = "a"'), PROFILE,
     r"site\.toml:\d+: nodes\[1\]\.id = 'a': duplicate node id \(also nodes\[0\]\)"),
    ("duplicate-device-id", SITE + sub(SECOND_NODE, 'id = "gw2"', 'id = "gw"'), PROFILE,
     r"nodes\[1\]\.devices\[0\]\.id = 'gw': duplicate device id \(also nodes\[0\]\.devices\[0\]\)"),
    ("duplicate-endpoint", SITE + sub(SECOND_NODE, "port = 1503", "port = 1502"), PROFILE,
     r"nodes\[1\]\.devices\[0\] = 'gw2': host:port 127\.0\.0\.1:1502 unit 1 already used by nodes\[0\]\.devices\[0\]"),
    ("duplicate-peer-address", SITE + sub(SECOND_NODE, "9002", "9001"), PROFILE,
     r"nodes\[1\]\.peer = '127\.0\.0\.1:9001': address already used by nodes\[0\]\.peer"),
    ("missing-profile-file", sub(SITE, 'profile = "p.toml"', 'profile = "nope.toml"'), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.profile = 'nope\.toml': profile file not found: .*nope\.toml"),
    ("missing-shipped-profile", sub(SITE, 'profile = "p.toml"', 'profile = "transformer"'), PROFILE,
     r"profile = 'transformer': profile file not found: .*config/profiles/transformer\.toml"),
    ("device-port-out-of-range", sub(SITE, "port = 1502", "port = 70000"), PROFILE,
     r"site\.toml:14: nodes\[0\]\.devices\[0\]\.port = 70000: must be 0\.\.65535"),
    ("device-port-zero", sub(SITE, "port = 1502", "port = 0"), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.port = 0: must be 1\.\.65535"),
    ("api-port-out-of-range", sub(SITE, "127.0.0.1:8001", "127.0.0.1:99999"), PROFILE,
     r"nodes\[0\]\.api = '127\.0\.0\.1:99999': port must be 1\.\.65535"),
    ("peer-without-port", sub(SITE, "127.0.0.1:9001", "127.0.0.1"), PROFILE,
     r"nodes\[0\]\.peer = '127\.0\.0\.1': must be host:port"),
    ("port-as-string", sub(SITE, "port = 1502", 'port = "1502"'), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.port = '1502': must be an integer"),
    ("malformed-site", sub(SITE, 'name = "t"', "name = t"), PROFILE,
     r"site\.toml:2: \(file\): malformed TOML: Invalid value \(at line 2, column 8\)"),
    ("unknown-key-in-site", sub(SITE, 'host = "127.0.0.1"', 'hots = "127.0.0.1"'), PROFILE,
     r"site\.toml:13: nodes\[0\]\.devices\[0\]\.hots = '127\.0\.0\.1': unknown key \(did you mean 'host'\?\)"),
    ("unknown-section", SITE + "\n[algorythm]\nmode = 'freedm'\n", PROFILE,
     r"algorythm = .*unknown key \(did you mean 'algorithm'\?\)"),
    ("unknown-transport", sub(SITE, '"modbus_tcp"', '"modbus_udp"'), PROFILE,
     r"transport = 'modbus_udp': must be one of modbus_tcp, modbus_rtu, simulated, fake"),
    ("tcp-without-host", sub(SITE, 'host = "127.0.0.1"\n', ""), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.host: required for transport modbus_tcp"),
    ("rtu-without-serial-port", sub(sub(SITE, '"modbus_tcp"', '"modbus_rtu"'), 'host = "127.0.0.1"\nport = 1502\n', ""), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.serial_port: required for transport modbus_rtu"),
    ("profile-for-another-type", sub(SITE, 'type = "Sst"', 'type = "Desd"'), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.profile = 'p\.toml': profile 'test-sst' is for Sst devices, not Desd"),
    ("tcp-with-a-serial-port", sub(SITE, "port = 1502\n", 'port = 1502\nserial_port = "/dev/ttyUSB0"\n'), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.serial_port = '/dev/ttyUSB0': a Modbus/TCP device has no serial port \(use transport modbus_rtu\)"),
    ("one-bus-two-baud-rates", RTU_SITE + sub(sub(RTU_DEVICE, "unit = 1", "unit = 2"), "19200", "9600"), PROFILE,
     r"nodes\[0\]\.devices\[2\]\.baudrate = 9600: serial port /dev/ttyUSB0 is one line: baudrate must be the same as nodes\[0\]\.devices\[1\]'s \(19200\)"),
    ("one-gateway-two-timeouts", SITE + SLOW_UNIT_2, PROFILE,
     r"nodes\[0\]\.devices\[1\]\.timeout_s = 3\.0: 127\.0\.0\.1:1502 is one connection: timeout_s must be the same as nodes\[0\]\.devices\[0\]'s \(1\.0\)"),
    ("simulated-rtu-without-serving-port", sub(sub(SITE, '"modbus_tcp"', '"simulated"'), 'host = "127.0.0.1"\nport = 1502\n', 'serial_port = "/tmp/ttyB"\n'), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.sim\.serve_serial_port: required for a simulated RTU device"),
    ("bad-sim-parameter", sub(SITE, '"modbus_tcp"', '"simulated"') + "sim = { lag_s = -1.0 }\n", PROFILE,
     r"nodes\[0\]\.devices\[0\]\.sim\.lag_s = -1\.0: must be >= 0"),
    ("sim-on-real-device", SITE + "sim = { lag_s = 1.0 }\n", PROFILE,
     r"nodes\[0\]\.devices\[0\]\.sim: simulation parameters need transport 'simulated'"),
    ("bad-timing", SITE + '\n[timings]\nLB_ROUND_TIME = "fast"\n', PROFILE,
     r"timings\.LB_ROUND_TIME = 'fast': must be an integer"),
    ("unknown-timing-profile", SITE + '\n[timings]\nprofile = "turbo"\n', PROFILE,
     r"timings\.profile = 'turbo': must be one of fast-5, fast-10"),
    ("bad-algorithm-mode", SITE + '\n[algorithm]\nmode = "greedy"\n', PROFILE,
     r"algorithm\.mode = 'greedy': must be one of freedm, adaptive"),
    # numbers that parse but break a running node
    ("nan-hold-time", SITE + "\n[algorithm]\nfailsafe_hold_s = nan\n", PROFILE,
     r"site\.toml:\d+: algorithm\.failsafe_hold_s = nan: must be a finite number"),
    ("infinite-profile-limit", SITE, sub(PROFILE, "min = -10.0", "min = -inf"),
     r"p\.toml:\d+: point\[1\]\.min = -inf: must be a finite number"),
    ("nan-sim-parameter", sub(SITE, '"modbus_tcp"', '"simulated"') + "sim = { initial_kw = nan }\n", PROFILE,
     r"nodes\[0\]\.devices\[0\]\.sim\.initial_kw = nan: must be a finite number"),
    ("zero-ttl", SITE + "\n[timings]\nCSRC_DEFAULT_TIMEOUT = 0\n", PROFILE,
     r"site\.toml:\d+: timings\.CSRC_DEFAULT_TIMEOUT = 0: must be > 0 ms"),
    ("zero-phases", SITE + "\n[timings]\nGM_PHASE_TIME = 0\nSC_PHASE_TIME = 0\nLB_PHASE_TIME = 0\n", PROFILE,
     r"timings\.GM_PHASE_TIME = 0: must be > 0 ms(.|\n)*timings\.SC_PHASE_TIME = 0: must be > 0 ms(.|\n)*timings\.LB_PHASE_TIME = 0: must be > 0 ms"),
    ("negative-timing", SITE + "\n[timings]\nLB_ROUND_TIME = -100\n", PROFILE,
     r"timings\.LB_ROUND_TIME = -100: must be 0\.\.3600000"),
    ("round-longer-than-phase", SITE + "\n[timings]\nLB_ROUND_TIME = 2000\n", PROFILE,
     r"timings\.LB_ROUND_TIME = 2000: must be <= LB_PHASE_TIME \(1000 ms\): an LB round must fit in the LB phase"),
    ("request-longer-than-round", SITE + "\n[timings]\nLB_REQUEST_TIMEOUT = 150\n", PROFILE,
     r"timings\.LB_REQUEST_TIMEOUT = 150: must be <= LB_ROUND_TIME \(100 ms\)"),
    # one address spelled two ways
    ("localhost-is-loopback", SITE + sub(SECOND_NODE, "127.0.0.1:8002", "localhost:8001"), PROFILE,
     r"nodes\[1\]\.api = 'localhost:8001': address already used by nodes\[0\]\.api"),
    ("wildcard-takes-every-address", SITE + sub(SECOND_NODE, "127.0.0.1:9002", "0.0.0.0:9001"), PROFILE,
     r"nodes\[1\]\.peer = '0\.0\.0\.0:9001': address already used by nodes\[0\]\.peer"),
    ("device-on-an-api-port", SITE + sub(SECOND_NODE, "port = 1503", "port = 8001"), PROFILE,
     r"nodes\[1\]\.devices\[0\] = 'gw2': host:port 127\.0\.0\.1:8001 unit 1 already used by nodes\[0\]\.api"),
    ("device-localhost-twice", SITE + sub(sub(SECOND_NODE, "port = 1503", "port = 1502"), 'host = "127.0.0.1"', 'host = "LOCALHOST"'), PROFILE,
     r"nodes\[1\]\.devices\[0\] = 'gw2': host:port LOCALHOST:1502 unit 1 already used by nodes\[0\]\.devices\[0\]"),
    ("control-on-an-api-port", SITE + '\n[simulation]\ncontrol = "localhost:8001"\n', PROFILE,
     r"simulation\.control = 'localhost:8001': address already used by nodes\[0\]\.api"),
    ("non-ascii-port-digits", SITE + sub(SECOND_NODE, "127.0.0.1:8002", "127.0.0.1:８００１"), PROFILE,
     r"nodes\[1\]\.api = '127\.0\.0\.1:８００１': port must be 1\.\.65535 in ASCII digits"),
    ("non-ascii-host", sub(SITE, 'host = "127.0.0.1"', 'host = "１２７.0.0.1"'), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.host = '１２７\.0\.0\.1': host must be ASCII"),
    # EV chargers over OCPP
    ("ocpp-on-an-sst", sub(SITE, '"modbus_tcp"', '"ocpp"'), PROFILE,
     r"site\.toml:12: nodes\[0\]\.devices\[0\]\.transport = 'ocpp': transport ocpp is for Evse devices \(an OCPP charge point\), not Sst"),
    ("ocpp-without-port", sub(OCPP_SITE, "port = 1600\n", ""), PROFILE,
     r"nodes\[0\]\.devices\[1\]\.port: required for transport ocpp: where the node listens"),
    ("ocpp-without-host", sub(OCPP_SITE, 'host = "127.0.0.1"\nport = 1600', "port = 1600"), PROFILE,
     r"nodes\[0\]\.devices\[1\]\.host: required for transport ocpp: where the node listens"),
    ("ocpp-port-zero", sub(OCPP_SITE, "port = 1600", "port = 0"), PROFILE,
     r"nodes\[0\]\.devices\[1\]\.port = 0: must be 1\.\.65535 \(the charge point must know it\)"),
    ("ocpp-two-central-systems", OCPP_SITE + sub(sub(OCPP_DEVICE, "cp1", "cp2"), "1600", "1601"), PROFILE,
     r"nodes\[0\]\.devices\[2\] = 'cp2': the OCPP charge points of node a connect to one central system: host:port 127\.0\.0\.1:1601 must be 127\.0\.0\.1:1600, as nodes\[0\]\.devices\[1\]"),
    ("ocpp-on-an-api-port", sub(OCPP_SITE, "port = 1600", "port = 8001"), PROFILE,
     r"nodes\[0\]\.devices\[1\] = 'cp1': OCPP central system 127\.0\.0\.1:8001 already used by nodes\[0\]\.api"),
    ("ocpp-two-nodes-one-address", OCPP_SITE + SECOND_NODE + sub(OCPP_DEVICE, "cp1", "cp2"), PROFILE,
     r"nodes\[1\]\.devices\[1\] = 'cp2': OCPP central system 127\.0\.0\.1:1600 already used by nodes\[0\]\.devices\[1\]"),
    ("modbus-device-on-the-ocpp-port", OCPP_SITE + sub(SECOND_NODE, "port = 1503", "port = 1600"), PROFILE,
     r"nodes\[1\]\.devices\[0\] = 'gw2': host:port 127\.0\.0\.1:1600 unit 1 already used by nodes\[0\]\.devices\[1\]"),
    ("ocpp-with-a-serial-port", OCPP_SITE + 'serial_port = "/dev/ttyUSB0"\n', PROFILE,
     r"nodes\[0\]\.devices\[1\]\.serial_port = '/dev/ttyUSB0': an OCPP charge point has no serial port"),
    ("ocpp-with-verify", OCPP_SITE + "verify = true\n", PROFILE,
     r"nodes\[0\]\.devices\[1\]\.verify = True: for Modbus: the charge point's answer to every profile is checked anyway"),
    ("ocpp-with-modbus-faults", OCPP_SITE + "sim = { faults = { close = true } }\n", PROFILE,
     r"nodes\[0\]\.devices\[1\]\.sim\.faults: a simulated OCPP charge point is not served over Modbus"),
    ("ocpp-bad-connectors", OCPP_SITE + "sim = { connectors = 0 }\n", PROFILE,
     r"nodes\[0\]\.devices\[1\]\.sim\.connectors = 0: must be 1\.\.64"),
    ("ocpp-profile-of-another-type", OCPP_SITE + 'profile = "p.toml"\n', PROFILE,
     r"nodes\[0\]\.devices\[1\]\.profile = 'p\.toml': profile 'test-sst' is for Sst devices, not Evse"),
    ("connectors-on-a-modbus-evse", sub(sub(OCPP_SITE, '"ocpp"', '"simulated"'), "port = 1600", 'port = 1600\nprofile = "evse"\nsim = { connectors = 4 }'), PROFILE,
     r"nodes\[0\]\.devices\[1\]\.sim\.connectors: for transport ocpp only \(a simulated OCPP charge point\)"),
    ("modbus-without-profile", sub(SITE, 'profile = "p.toml"\n', ""), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.profile: required for transport modbus_tcp"),
    ("ev-every-rule-at-once", sub(SITE, "[[nodes]]", '[ev]\nrouting = "predictive"\npower_kw = 0.5\nanswer_timeout_s = 9.0\n\n[[nodes]]'), PROFILE,
     r"ev = .*power_kw must be within min_power_kw\.\.max_power_kw; routing = \"predictive\" needs count_base_load = true .*; answer_timeout_s must be shorter than hold_s"),
    ("ev-a-week-at-most", sub(SITE, "[[nodes]]", "[ev]\nmax_duration_s = 1e7\n\n[[nodes]]"), PROFILE,
     r"max_duration_s must be at most 604800 \(a week\)"),
    ("ev-unknown-key", sub(SITE, "[[nodes]]", "[ev]\npower = 7.0\n\n[[nodes]]"), PROFILE,
     r"ev\.power.*unknown key"),
    ("ev-capacity-not-positive", sub(SITE, "peer = \"127.0.0.1:9001\"", "peer = \"127.0.0.1:9001\"\nev_capacity_kw = 0.0"), PROFILE,
     r"nodes\[0\]\.ev_capacity_kw = 0\.0: must be > 0"),
    ("ev-capacity-too-large", sub(SITE, "peer = \"127.0.0.1:9001\"", "peer = \"127.0.0.1:9001\"\nev_capacity_kw = 1e13"), PROFILE,
     r"nodes\[0\]\.ev_capacity_kw = 10000000000000\.0: must be <= 1000000000000\.0"),
    ("rtds-index-gap", sub(RTDS_SITE, "index = 2, device", "index = 3, device"), PROFILE,
     r"rtds\[0\]\.states: a1's states indices must run 1\.\.2 without gaps \(they are 1, 3\)"),
    ("rtds-index-twice", sub(RTDS_SITE, "index = 2, device", "index = 1, device"), PROFILE,
     r"rtds\[0\]\.states\[1\]\.index = 1: index 1 twice in a1's states"),
    ("rtds-pair-twice", sub(RTDS_SITE, '{ index = 2, device = "pv", signal = "generation" }', '{ index = 2, device = "gw", signal = "gateway" }'), PROFILE,
     r"rtds\[0\]\.states\[1\] = 'gw': gw gateway twice in a1's states"),
    ("rtds-signal-not-of-the-type", sub(RTDS_SITE, 'signal = "generation"', 'signal = "drain"'), PROFILE,
     r"rtds\[0\]\.states\[1\]\.signal = 'drain': a Drer has no state 'drain' \(states: generation\)"),
    ("rtds-command-not-of-the-type", sub(RTDS_SITE, 'commands = [{ index = 1, device = "gw", signal = "gateway" }]', 'commands = [{ index = 1, device = "gw", signal = "gateway" }, { index = 2, device = "pv", signal = "generation" }]'), PROFILE,
     r"a Drer has no command 'generation' \(commands: none\)"),
    ("rtds-missing-signal", sub(RTDS_SITE, 'commands = [{ index = 1, device = "gw", signal = "gateway" }]', "commands = []"), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.adapter = 'a1': gw \(Sst\) needs gateway in a1's commands"),
    ("rtds-unknown-device", sub(RTDS_SITE, '{ index = 2, device = "pv"', '{ index = 2, device = "nope"'), PROFILE,
     r"rtds\[0\]\.states\[1\]\.device = 'nope': nope is no device of the site"),
    ("rtds-device-of-another-transport", sub(RTDS_SITE, 'id = "pv"\ntype = "Drer"\ntransport = "rtds"\nadapter = "a1"', 'id = "pv"\ntype = "Drer"\ntransport = "fake"\nprofile = "drer"'), PROFILE,
     r"pv is transport fake: an rtds table names devices with transport rtds"),
    ("rtds-table-missing", sub(RTDS_SITE, 'commands = [{ index = 1, device = "gw", signal = "gateway" }]\n', ""), PROFILE,
     r"rtds\[0\]\.commands.*required"),
    ("rtds-entry-extra-field", sub(RTDS_SITE, 'signal = "generation" }', 'signal = "generation", type = "Drer" }'), PROFILE,
     r"rtds\[0\]\.states\[1\]\.type.*unknown key"),
    ("rtds-two-adapters-one-name", RTDS_SITE.replace("[[nodes]]", SECOND_ADAPTER.replace('"a2"', '"a1"') + "\n[[nodes]]", 1), PROFILE,
     r"rtds\[1\]\.name = 'a1': two adapters named a1 \(also rtds\[0\]\)"),
    ("rtds-two-adapters-one-port", RTDS_SITE.replace("[[nodes]]", SECOND_ADAPTER.replace("5002", "5001") + "\n[[nodes]]", 1), PROFILE,
     r"rtds\[1\] = 'a2': host:port 127\.0\.0\.1:5001 is also rtds\[0\]'s"),
    ("rtds-device-in-two-adapters", RTDS_SITE.replace("[[nodes]]", SECOND_ADAPTER.replace("states = []", 'states = [{ index = 1, device = "pv", signal = "generation" }]') + "\n[[nodes]]", 1), PROFILE,
     r"rtds\[1\]\.states\[0\]\.device = 'pv': pv has adapter = 'a1', not 'a2'"),
    ("rtds-device-without-adapter", sub(RTDS_SITE, 'transport = "rtds"\nadapter = "a1"\n\n', 'transport = "rtds"\n\n'), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.adapter: required for transport rtds"),
    ("rtds-unknown-adapter", sub(RTDS_SITE, 'id = "pv"\ntype = "Drer"\ntransport = "rtds"\nadapter = "a1"', 'id = "pv"\ntype = "Drer"\ntransport = "rtds"\nadapter = "a9"'), PROFILE,
     r"nodes\[0\]\.devices\[1\]\.adapter = 'a9': no \[\[rtds\]\] adapter named a9 \(adapters: a1\)"),
    ("rtds-device-with-a-port", sub(RTDS_SITE, 'adapter = "a1"\n\n', 'adapter = "a1"\nport = 1502\n\n'), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.port = 1502: not for transport rtds"),
    ("adapter-on-a-modbus-device", sub(SITE, 'profile = "p.toml"\n', 'profile = "p.toml"\nadapter = "a1"\n'), PROFILE,
     r"nodes\[0\]\.devices\[0\]\.adapter = 'a1': for transport rtds only"),
    ("grid-unknown-bus", grid("buses = { a = 99 }"), PROFILE,
     r"site\.toml:\d+: grid\.buses\.a = 99: no bus 99 in network cigre-mv \(15 buses, 0\.\.14, or their names\)"),
    ("grid-unknown-bus-name", grid('buses = { a = "Bus 99" }'), PROFILE,
     r"grid\.buses\.a = 'Bus 99': no bus 'Bus 99' in network cigre-mv"),
    ("grid-bus-given-twice", grid('buses = { a = 5, b = "Bus 5" }'), PROFILE,
     r"grid\.buses\.b = 'Bus 5': bus 5 is given to two nodes \(a, b\)"),
    ("grid-unknown-node", grid("buses = { z = 5 }"), PROFILE,
     r"grid\.buses\.z = 5: no node 'z' in the site; nodes: a, b"),
    ("grid-network-file-missing", grid('network = "feeder.json"'), PROFILE,
     r"grid\.network = 'feeder\.json': network file not found: .*feeder\.json"),
    ("grid-network-file-not-pandapower", grid('network = "p.toml"'), PROFILE,
     r"grid\.network = 'p\.toml': must be one of cigre-mv, mv-oberrhein or a pandapower \.json file"),
    ("grid-bad-kw-scale", grid("kw_scale = 0.0"), PROFILE,
     r"grid\.kw_scale = 0\.0: must be > 0"),
    ("grid-bad-load-scale", grid("load_scale = -1.0"), PROFILE,
     r"grid\.load_scale = -1\.0: must be >= 0"),
    ("grid-bad-tick", grid("tick_s = 0"), PROFILE,
     r"grid\.tick_s = 0: must be > 0"),
    ("grid-unknown-key", grid("kw_scael = 2.0"), PROFILE,
     r"grid\.kw_scael.*unknown key"),
    ("simulation-unknown-plant", sub(SITE, "[[nodes]]", '[simulation]\nplant = "gridlab"\n\n[[nodes]]'), PROFILE,
     r"simulation\.plant = 'gridlab': must be one of"),
]  # fmt: skip


def write_case(directory: Path, site: str, profile: str) -> Path:
    (directory / "p.toml").write_text(profile, encoding="utf-8")
    path = directory / "site.toml"
    path.write_text(site, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("site", "profile", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_check_config_refuses_with_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: str, profile: str, pattern: str
) -> None:
    monkeypatch.chdir(tmp_path)
    write_case(tmp_path, site, profile)
    result = CliRunner().invoke(app, ["check-config", "site.toml"])
    assert result.exit_code == 1, result.output
    assert re.search(pattern, result.output), result.output


def test_the_base_case_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_case(tmp_path, SITE, PROFILE)
    result = CliRunner().invoke(app, ["check-config", "site.toml"])
    assert result.exit_code == 0, result.output
    assert "site.toml: OK" in result.output


def test_udp_peer_and_tcp_api_may_share_a_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Different protocols: a peer (UDP) port equal to an API (TCP) port binds fine."""
    monkeypatch.chdir(tmp_path)
    write_case(tmp_path, sub(SITE, "127.0.0.1:9001", "127.0.0.1:8001"), PROFILE)
    assert CliRunner().invoke(app, ["check-config", "site.toml"]).exit_code == 0


def test_nodes_have_their_own_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each node connects on its own: two nodes' devices behind one gateway may have their own
    timeouts, and two nodes (two machines) may each use /dev/ttyUSB0 unit 1."""
    monkeypatch.chdir(tmp_path)
    second = SECOND_NODE.split("[[nodes.devices]]")[0] + SLOW_UNIT_2.replace("gw-unit-2", "b-gw")
    rtu = RTU_DEVICE.replace("rtu-gw-1", "rtu-a")
    site = SITE + rtu + second + rtu.replace("rtu-a", "rtu-b")
    write_case(tmp_path, site, PROFILE)
    result = CliRunner().invoke(app, ["check-config", "site.toml"])
    assert result.exit_code == 0, result.output


def test_ocpp_chargers_of_a_node_share_its_central_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two charge points of one node at one host:port (the node's central system), with no
    profile: each gets the shipped evse-ocpp profile; a sim table makes a simulated one."""
    monkeypatch.chdir(tmp_path)
    second = sub(OCPP_DEVICE, "cp1", "cp2").replace('"127.0.0.1"', '"localhost"')
    site_path = write_case(tmp_path, OCPP_SITE + "sim = { connectors = 2 }\n" + second, PROFILE)
    site = load_site(site_path)
    cp1, cp2 = site.device("cp1"), site.device("cp2")
    assert cp1.profile.name == cp2.profile.name == "evse-ocpp"
    assert (cp1.simulated_charge_point, cp1.in_plant, cp1.simulated) == (True, True, False)
    assert (cp2.simulated_charge_point, cp2.in_plant) == (False, False)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
@pytest.mark.parametrize("key", ["key_file", "api_token_file"])
@pytest.mark.timeout(10)
def test_secret_files_must_be_regular_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, key: str
) -> None:
    """Refused at once: a FIFO would block the node that opens it, a directory crash it."""
    monkeypatch.chdir(tmp_path)
    make_special(tmp_path / "secret", kind)
    write_case(tmp_path, sub(SITE, 'name = "t"', f'name = "t"\n{key} = "secret"'), PROFILE)
    result = CliRunner().invoke(app, ["check-config", "site.toml"])
    assert result.exit_code == 1
    described = "a directory" if kind == "directory" else "a FIFO"
    assert f"site.{key} = 'secret': secret is {described}, not a regular file" in result.output


@pytest.mark.parametrize("kind", ["directory", "fifo"])
@pytest.mark.timeout(10)
def test_loading_a_key_that_is_not_a_file_fails_clearly(tmp_path: Path, kind: str) -> None:
    from controller.peer.keys import KeyFileError, load_keyring

    make_special(tmp_path / "group.key", kind)
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_keyring(tmp_path / "group.key")


def make_special(path: Path, kind: str) -> None:
    if kind == "directory":
        path.mkdir(mode=0o700)
    else:
        os.mkfifo(path, 0o600)


def test_every_error_is_listed_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    site = SITE + sub(SECOND_NODE, 'id = "b"', 'id = "a"')
    site = sub(site, "port = 1503", "port = 70000")
    profile = sub(PROFILE, 'access = "r"', 'access = "x"')
    write_case(tmp_path, site, profile)
    with pytest.raises(ConfigError) as caught:
        load_site("site.toml")
    text = str(caught.value)
    assert "duplicate node id" in text
    assert "must be 0..65535" in text
    assert "must be one of r, w, rw" in text
    assert len(caught.value.issues) == 3


def test_freedm_timings_file_is_used_and_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "timings.cfg").write_text(
        "# FREEDM slow-5\nLB_ROUND_TIME=410\nVVC_PHASE_TIME=4100\nLB_PHASE_TIME = 4100\n",
        encoding="utf-8",
    )
    write_case(
        tmp_path, SITE + '\n[timings]\nfile = "timings.cfg"\nLB_REQUEST_TIMEOUT = 150\n', PROFILE
    )
    site = load_site("site.toml")
    assert (site.timings.LB_ROUND_TIME, site.timings.LB_PHASE_TIME) == (410, 4100)
    assert site.timings.LB_REQUEST_TIMEOUT == 150  # the site's own key wins over the file
    (tmp_path / "timings.cfg").write_text("LB_ROUND=410\nGM_PHASE_TIME=fast\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_site("site.toml")
    assert "timings.cfg:1: LB_ROUND = '410': unknown timing key" in str(caught.value)
    assert "timings.cfg:2: GM_PHASE_TIME = 'fast': must be a whole number of milliseconds" in str(
        caught.value
    )


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_shipped_examples_are_valid(example: str) -> None:
    result = CliRunner().invoke(app, ["check-config", f"config/examples/{example}"])
    assert result.exit_code == 0, result.output


def test_a_grid_network_file_must_be_a_pandapower_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "feeder.json").write_text('{"bus": []}', encoding="utf-8")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    write_case(tmp_path, grid('network = "feeder.json"'), PROFILE)
    result = CliRunner().invoke(app, ["check-config", "site.toml"])
    assert result.exit_code == 1, result.output
    assert re.search(
        r"site\.toml:\d+: grid\.network = 'feeder\.json': .*feeder\.json: not a pandapower "
        r"network \(a file written by pandapower\.to_json\)",
        result.output,
    ), result.output
    write_case(tmp_path, grid('network = "broken.json"\nbuses = { a = 3 }'), PROFILE)
    result = CliRunner().invoke(app, ["check-config", "site.toml"])
    assert "broken.json: not a pandapower network: Expecting" in result.output, result.output
