"""``dgi points-list``: every point a node reads or writes, as the sheet a HIL engineer needs.

A lab configures its testbed (RTDS GTNET-MODBUS, OPAL-RT's Modbus slave, Typhoon HIL's Modbus
device) from a points list: which register carries which signal, in which table, type, word
order and scale, and which ones the controller writes. This module builds that list from the
same profiles the drivers and the simulator load, so the sheet cannot disagree with them.

Each point's address is given three ways, because manuals and HIL tools disagree on how to
count: ``address`` as the profile writes it (``addressing`` says whether that is 0-based
``offset`` or 1-based ``offset_plus``), ``pdu_address`` (the 0-based address on the wire, as
``mbpoll -0`` and most HIL tools take it) and ``register`` (the 1-based "Modicon" reference
with its table digit: 40001 is holding PDU 0, 30001 input, 10001 discrete input, 00001 coil).

Devices that do not speak Modbus (``ocpp`` chargers, ``fake`` devices) are listed too, with
their transport and link, but with the register columns (table, addresses, type, word order,
scale, offset) empty: their drivers do not use them. The renderers are pure: rows in, text out.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import astuple, dataclass, fields

from config.profile import BIT_TABLES, Point, Slot
from config.site import OCPP, Device, Site

#: Transports whose points live in Modbus registers (``simulated``: served by ``dgi simulate``).
MODBUS_TRANSPORTS = frozenset({"modbus_tcp", "modbus_rtu", "simulated"})
#: The leading digit of a Modicon register reference, by table.
TABLE_DIGIT = {"coil": "0", "discrete_input": "1", "input": "3", "holding": "4"}
FORMATS = ("csv", "markdown")


@dataclass(frozen=True)
class PointRow:
    """One line of the sheet; every field is already text (empty: does not apply)."""

    node: str
    device: str
    device_type: str
    transport: str
    link: str
    signal: str
    point: str
    role: str
    table: str
    address: str
    addressing: str
    pdu_address: str
    register: str
    registers: str
    type: str
    word_order: str
    scale: str
    offset: str
    unit: str
    access: str
    failsafe: str
    min: str
    max: str
    description: str


COLUMNS = tuple(field.name for field in fields(PointRow))


def number(value: float | None) -> str:
    """``0``, ``0.01``, ``4294967295``: exact, never in exponent form for whole numbers."""
    if value is None:
        return ""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def register_reference(point: Point) -> str:
    """The 1-based Modicon reference: 40001 for holding PDU 0, 6 digits past 9999."""
    return f"{TABLE_DIGIT[point.table]}{point.address + 1:04d}"


def link(device: Device) -> str:
    """Where the driver meets the device: a Modbus server and unit, a serial bus, a URL."""
    entry = device.entry
    if entry.transport == "fake":
        return "configured values"
    if entry.transport == OCPP:
        return f"ws://{entry.host}:{entry.port}/ocpp/{entry.id}"
    if device.rtds is not None:
        return f"rtds adapter {device.rtds.name} at {device.rtds.host}:{device.rtds.port}"
    if entry.serial_port:
        return (
            f"{entry.serial_port} {entry.baudrate} {entry.bytesize}{entry.parity}"
            f"{entry.stopbits} unit {entry.unit}"
        )
    return f"{entry.host or '127.0.0.1'}:{entry.port} unit {entry.unit}"


def point_row(device: Device, point: Point) -> PointRow:
    row = _point_row(device, point)
    slot = point.location
    if not isinstance(slot, Slot) or slot.transport != "rtds":
        return row
    index = "" if slot.index is None else str(slot.index)
    table = slot.table.rsplit(" ", 1)[-1]  # "rtds sst1 states": the link column names sst1
    return dataclasses.replace(row, table=table, address=index, type="float32 big-endian")


def _point_row(device: Device, point: Point) -> PointRow:
    modbus = device.entry.transport in MODBUS_TRANSPORTS
    multi_word = point.count > 1 and point.table not in BIT_TABLES
    base = 1 if device.profile.addressing == "offset_plus" else 0
    return PointRow(
        node=device.node_id,
        device=device.id,
        device_type=device.type,
        transport=device.entry.transport,
        link=link(device),
        signal=point.signal,
        point=point.name,
        role="+".join(sorted(point.roles)),
        table=point.table if modbus else "",
        address=str(point.address + base) if modbus else "",
        addressing=device.profile.addressing if modbus else "",
        pdu_address=str(point.address) if modbus else "",
        register=register_reference(point) if modbus else "",
        registers=str(point.count) if modbus else "",
        type=point.type if modbus else "",
        word_order=point.word_order if modbus and multi_word else "",
        scale=number(point.scale) if modbus else "",
        offset=number(point.offset) if modbus else "",
        unit=point.unit,
        access=point.access,
        failsafe=number(point.failsafe),
        min=number(point.min),
        max=number(point.max),
        description=point.description,
    )


def point_rows(site: Site, node: str | None = None) -> list[PointRow]:
    """Every point of a node's devices (every node's without ``node``), in site order.

    Raises ``KeyError`` naming the node and the known ones when ``node`` is not in the site.
    """
    if node is not None:
        site.node(node)
    devices = site.devices if node is None else site.devices_of(node)
    return [point_row(device, point) for device in devices for point in device.profile.points]


def to_csv(rows: list[PointRow]) -> str:
    """RFC 4180: a header row, CRLF line ends, fields quoted where they need it."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(astuple(row) for row in rows)
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(rows: list[PointRow]) -> str:
    """A GitHub-flavoured markdown table (pipes in values escaped)."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(_cell(cell) for cell in astuple(row)) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


RENDERERS = {"csv": to_csv, "markdown": to_markdown}
