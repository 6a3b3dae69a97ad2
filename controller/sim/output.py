"""A scenario run's files: the time series (``series.csv``), the events (``events.csv``) and the
summary (``summary.json``), and the reader that plots use to read the series back.

The formatting is pure and fixed, so two runs that record the same samples write byte-identical
files (issue 12, "Determinism"): times with 3 decimals, powers, K and frequency with 4, never a
float's ``repr``; a negative zero is written as zero; ``'\\n'`` line ends; rows sorted by time,
then by node in natural order (``n2`` before ``n10``). Only the edges write: the
:class:`SeriesWriter` streams one sample's rows at a time, so a 1 000-node run of 600 samples
never holds its 600 000 rows, and :func:`read_rows` streams them back.

The series is long: one row per (instant, node), the sample's frequency, migrations and
messages repeated on each of its rows, so a row reads on its own (``grep``, a spreadsheet
filter, pandas) and the columns never depend on the site.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import IO, NamedTuple

from controller.sim.record import Event, NodeSample, Sample, Summary

T_DECIMALS = 3  # virtual seconds
VALUE_DECIMALS = 4  # kW, K, rad/s
SUMMARY_DECIMALS = 4  # every float of summary.json but wall_s
WALL_DECIMALS = 2
EVENT_COLUMNS = ("t", "kind", "node", "text")


class Row(NamedTuple):
    """One line of ``series.csv``: a node at an instant, with the instant's site figures."""

    t: float
    node: str
    feeder: str
    up: bool
    state: str
    gateway: float
    net_generation: float
    predicted: float
    pstar: float
    storage: float | None  # empty in the file: the node has no battery
    group: str
    leader: str
    k: float
    frequency: float
    migrations: int
    messages: int


COLUMNS: tuple[str, ...] = Row._fields


def fixed(value: float, decimals: int) -> str:
    """``value`` with exactly ``decimals`` decimals; ``-0.0000`` becomes ``0.0000``."""
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting ``n2`` before ``n10`` (digit runs compare as numbers)."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name)
    )


def node_cells(sample: Sample, node: NodeSample) -> list[str]:
    """The CSV cells of one node at one sample, in :data:`COLUMNS` order."""
    v = VALUE_DECIMALS
    return [
        fixed(sample.t, T_DECIMALS),
        node.node,
        node.feeder,
        "1" if node.up else "0",
        node.state,
        fixed(node.gateway, v),
        fixed(node.net_generation, v),
        fixed(node.predicted, v),
        fixed(node.pstar, v),
        "" if node.storage is None else fixed(node.storage, v),
        node.group,
        node.leader,
        fixed(node.k, v),
        fixed(sample.frequency, v),
        str(sample.migrations),
        str(sample.messages),
    ]


def sample_cells(sample: Sample) -> list[list[str]]:
    """One sample's rows, by node in natural order."""
    nodes = sorted(sample.nodes, key=lambda n: natural_key(n.node))
    return [node_cells(sample, node) for node in nodes]


def sample_rows(sample: Sample) -> list[Row]:
    """One sample's rows as :class:`Row` (what :func:`read_rows` gives back, unrounded)."""
    nodes = sorted(sample.nodes, key=lambda n: natural_key(n.node))
    return [
        Row(
            t=sample.t,
            node=n.node,
            feeder=n.feeder,
            up=n.up,
            state=n.state,
            gateway=n.gateway,
            net_generation=n.net_generation,
            predicted=n.predicted,
            pstar=n.pstar,
            storage=n.storage,
            group=n.group,
            leader=n.leader,
            k=n.k,
            frequency=sample.frequency,
            migrations=sample.migrations,
            messages=sample.messages,
        )
        for n in nodes
    ]


def parse_row(cells: list[str], where: str = "series.csv") -> Row:
    """A CSV line back to a :class:`Row` (``where`` names it in an error)."""
    if len(cells) != len(COLUMNS):
        raise ValueError(
            f"{where}: {len(cells)} cells, expected {len(COLUMNS)} ({', '.join(COLUMNS)})"
        )
    (t, node, feeder, up, state, g, ng, pg, pstar, storage, group, leader, k, freq, mig, msg) = (
        cells
    )
    try:
        return Row(
            float(t), node, feeder, up == "1", state, float(g), float(ng), float(pg),
            float(pstar), None if storage == "" else float(storage), group, leader, float(k),
            float(freq), int(mig), int(msg),
        )  # fmt: skip
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error


class SeriesWriter:
    """Streams samples into ``series.csv``: ``add`` writes a sample's rows at once, ``close``
    (idempotent) ends the file. Samples must come in increasing time, else the file would not
    be sorted. Also a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = self.path.open("w", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file, lineterminator="\n")
        self._csv.writerow(COLUMNS)
        self._last_t: float | None = None
        self.rows = 0

    def add(self, sample: Sample) -> None:
        if self._file is None:
            raise ValueError(f"{self.path}: sample at t={sample.t} added after close")
        if self._last_t is not None and sample.t <= self._last_t:
            raise ValueError(
                f"{self.path}: sample at t={sample.t} after t={self._last_t}: "
                "samples must come in increasing time"
            )
        self._last_t = sample.t
        cells = sample_cells(sample)
        self._csv.writerows(cells)
        self.rows += len(cells)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> SeriesWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def write_csv(path: Path, samples: Iterable[Sample]) -> int:
    """Write ``samples`` (streamed, in increasing time) to ``path``; the rows written."""
    with SeriesWriter(path) as writer:
        for sample in samples:
            writer.add(sample)
    return writer.rows


def read_rows(path: Path) -> Iterator[Row]:
    """The rows of a ``series.csv``, streamed (the header is checked)."""
    with Path(path).open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if header is None or tuple(header) != COLUMNS:
            raise ValueError(f"{path}:1: header {header}, expected {', '.join(COLUMNS)}")
        for cells in reader:
            yield parse_row(cells, f"{path}:{reader.line_num}")


def write_events(path: Path, events: Iterable[Event]) -> int:
    """Write ``events.csv`` (t, kind, node, text), stably sorted by time; the rows written."""
    ordered = sorted(events, key=lambda e: e.t)
    with Path(path).open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(EVENT_COLUMNS)
        writer.writerows([fixed(e.t, T_DECIMALS), e.kind, e.node, e.text] for e in ordered)
    return len(ordered)


def rounded(value: object, decimals: int) -> object:
    """Floats in ``value`` (also inside dicts and lists) rounded; NaN and infinities to None."""
    if isinstance(value, float):
        return round(value, decimals) + 0.0 if math.isfinite(value) else None  # + 0.0: no -0.0
    if isinstance(value, dict):
        return {key: rounded(item, decimals) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item, decimals) for item in value]
    return value


def summary_text(summary: Summary) -> str:
    """``summary.json``'s text: sorted keys, indent 2, floats rounded, a final newline. Only
    ``wall_s`` differs between two runs of one scenario and seed."""
    fields = rounded(asdict(summary), SUMMARY_DECIMALS)
    assert isinstance(fields, dict)
    fields["wall_s"] = rounded(summary.wall_s, WALL_DECIMALS)
    return json.dumps(fields, sort_keys=True, indent=2, allow_nan=False) + "\n"


def write_summary(path: Path, summary: Summary) -> None:
    """Write ``summary.json`` (:func:`summary_text`)."""
    Path(path).write_text(summary_text(summary), encoding="utf-8", newline="\n")
