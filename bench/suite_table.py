"""The benchmark suite's pure part: each benchmark's JSON turned into figures, each figure
judged against its target, and the one table printed from them.

``bench/suite.py`` runs the benchmarks (each a process with ``--json``) and hands their
output here; nothing here runs anything, so ``tests/unit/test_bench_suite.py`` checks it on
sample outputs. A figure is one number (or a yes/no) with its unit, its target (``<= 2``,
``>= 2000``, ``== 1``, or none: "—") and, where a peer was measured side by side in the same
run or has a published figure, the peer's. A benchmark that failed gives one row, "failed",
with its error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Value = float | str | None
OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda v, t: v <= t,
    ">=": lambda v, t: v >= t,
    "<": lambda v, t: v < t,
    ">": lambda v, t: v > t,
    "==": lambda v, t: abs(v - t) < 1e-9,
}


@dataclass(frozen=True)
class Target:
    """``op value``, e.g. ``<= 2`` (the figure's own unit) or ``== yes``."""

    op: str
    value: float | str

    @classmethod
    def parse(cls, text: str) -> Target:
        match = re.fullmatch(r"\s*(<=|>=|==|<|>)\s*(\S+)\s*", text)
        if match is None:
            raise ValueError(f"target {text!r}: expected OP VALUE with OP one of {sorted(OPS)}")
        op, raw = match.groups()
        try:
            return cls(op, float(raw))
        except ValueError:
            if op != "==":
                raise ValueError(f"target {text!r}: only == takes a word") from None
            return cls(op, raw)

    def met(self, value: Value) -> bool | None:
        """Whether ``value`` meets the target; None when it cannot be judged (no value)."""
        if value is None:
            return None
        if isinstance(self.value, str) or isinstance(value, str):
            return str(value) == str(self.value)
        return OPS[self.op](value, self.value)

    def __str__(self) -> str:
        value = self.value if isinstance(self.value, str) else f"{self.value:g}"
        return f"{self.op} {value}"


@dataclass(frozen=True)
class Figure:
    name: str
    value: Value
    unit: str = ""
    target: Target | None = None
    peer: str = ""  # a peer's figure: measured side by side here, or published

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "—"
        met = self.target.met(self.value)
        return "n/a" if met is None else "pass" if met else "short"


def figure(name: str, value: Any, unit: str = "", target: str = "", peer: str = "") -> Figure:
    """A figure from a JSON value (bools become yes/no), its target parsed from text."""
    if isinstance(value, bool):
        value = "yes" if value else "no"
    elif isinstance(value, int | float):
        value = float(value)
    elif value is not None:
        value = str(value)
    return Figure(name, value, unit, Target.parse(target) if target else None, peer)


@dataclass
class Outcome:
    """One benchmark's run: its figures, or the error that stopped it."""

    bench: str
    command: list[str]
    seconds: float
    load: tuple[float, float, float]  # the load average when it started
    figures: list[Figure] = field(default_factory=list)
    error: str = ""


def last_json(stdout: str) -> Any:
    """The last JSON document a benchmark printed (after any human lines before it)."""
    text = stdout.strip()
    if not text:
        raise ValueError("no output")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    lines = text.splitlines()
    for start in range(len(lines) - 1, -1, -1):
        if lines[start].startswith(("{", "[")):
            try:
                return json.loads("\n".join(lines[start:]))
            except json.JSONDecodeError:
                continue
    raise ValueError(f"no JSON document in the output (last line: {lines[-1][:120]!r})")


# ---------------------------------------------------------------- each benchmark's figures
ORIGINAL_DGI = "original DGI (published)"
ORIGINAL_EV = "original EV services (published)"
FOOTNOTE = (
    'Peers: "same run" was measured side by side in this run; "(published)" cannot run '
    "here — the original C++ DGI (FREEDM) and the original EV-routing microservices — and "
    'its figure is from their published test results (docs/benchmarks.md). "load" is the '
    "1-minute load average when the benchmark started."
)


def device_io(d: dict[str, Any]) -> list[Figure]:
    return [
        figure("round p50 (6 devices)", d["p50_ms"], "ms"),
        figure("round p99 (6 devices)", d["p99_ms"], "ms", "<= 2"),
        figure("requests per device per round", d["requests_per_device_per_round"], "", "== 1"),
        figure("read errors", d["errors"], "", "== 0"),
    ]


def lb_round(d: dict[str, Any]) -> list[Figure]:
    out = []
    for mode in ("adaptive", "freedm"):
        r = d[mode]
        a = mode == "adaptive"
        migration = "~141 ms on loopback: " + ORIGINAL_DGI
        out += [
            figure(f"{mode}: migration latency p50", r["migration_p50_ms"], "ms",
                   "<= 5" if a else "", migration),
            figure(f"{mode}: migration latency p99", r["migration_p99_ms"], "ms"),
            figure(f"{mode}: LB round p99, no migration", r["round_p99_ms"], "ms",
                   "<= 10" if a else ""),
            figure(f"{mode}: LB round p99, with migration", r["round_with_migration_p99_ms"],
                   "ms", "<= 10" if a else ""),
            figure(f"{mode}: convergence, four-substations", r["converged_at_s"], "s",
                   "<= 1" if a else "", "≈11.7 s (RSCAD 2013): " + ORIGINAL_DGI),
            figure(f"{mode}: final spread |G − NG|", r["final_spread_kw"], "kW",
                   "<= 0.05" if a else "< 1", "2 kW (one step): " + ORIGINAL_DGI),
        ]  # fmt: skip
    return out


def sc(d: dict[str, Any]) -> list[Figure]:
    out = []
    for n in ("3", "10", "30"):
        out.append(figure(f"state collection, {n} nodes, in memory p50", d["memory"][n]["p50_ms"],
                          "ms"))  # fmt: skip
        out.append(figure(f"state collection, {n} nodes, UDP p99", d["udp"][n]["p99_ms"], "ms",
                          "<= 60"))  # fmt: skip
    return out


def group(d: dict[str, Any]) -> list[Figure]:
    out = []
    published = "0.07–0.10 s after restart (PSCAD 2012): " + ORIGINAL_DGI
    for n, r in d["regroup"].items():
        out.append(figure(f"regroup, {n} nodes, leader cut", r["regrouped_s"], "s", "<= 2.48",
                          published))  # fmt: skip
        out.append(figure(f"regroup, {n} nodes, leader back", r["rejoined_s"], "s", "<= 2.48"))
    for n, v in d["datagrams_per_node_per_s"].items():
        out.append(figure(f"datagrams per node per s, {n} nodes", v, "/s"))
    wall = d["wall_s_100_nodes_2.5_virtual_s"]
    out.append(figure("100 nodes, 2.5 virtual s: plain channel", wall["plain"], "wall s"))
    out.append(figure("100 nodes, 2.5 virtual s: full wire", wall["full_wire"], "wall s",
                      peer=f"plain {wall['plain']:g} s, same run"))  # fmt: skip
    return out


def timings(d: dict[str, Any]) -> list[Figure]:
    return [
        figure("per-message processing p", d["p_us"], "µs"),
        figure("one-way UDP latency c p99", d["c_p99_ms"], "ms"),
        figure("fast-5 LB round margin, 5 nodes", d["margins"]["fast-5"]["5"], "x", ">= 1"),
        figure("fast-30 LB round margin, 30 nodes", d["margins"]["fast-30"]["30"], "x", ">= 1"),
    ]


def processes(d: dict[str, Any]) -> list[Figure]:
    n = d["nodes"]
    return [
        figure(f"{n} dgi run processes: one group after", d["one_group_after_s"], "s"),
        figure(f"{n} processes: round overruns", d["round_overruns_per_minute"], "/min", "== 0"),
        figure(f"{n} processes: node RSS max", d["node_rss_mb_max"], "MB", "<= 100"),
    ]


def memory(d: dict[str, Any]) -> list[Figure]:
    nodes = d["nodes"]
    peak = max(v["peak_mb"] for v in nodes.values())
    growth = max(v["growth_mb"] for v in nodes.values())
    span = f"{d['from_s']}–{d['to_s']} s"
    return [
        figure("node RSS peak (3 nodes, loads stepping)", peak, "MB", "<= 100"),
        figure(f"node RSS growth, {span} (flat)", growth, "MB"),
    ]


def api_load(d: dict[str, Any]) -> list[Figure]:
    return [
        figure(f"status API, {d['clients']} clients (wrk)", d["requests_per_s"], "req/s"),
        figure("status API latency p99", d["latency_p99_ms"], "ms"),
        figure("status API non-2xx answers", d["non_2xx"], "", "== 0"),
        figure("LB round p99 unloaded", d["round_p99_unloaded_ms"], "ms"),
        figure("LB round p99 under API load", d["round_p99_loaded_ms"], "ms"),
        figure("LB round p99 change under API load", d["round_p99_change_pct"], "%", "<= 20"),
    ]


def api_abuse(d: dict[str, Any]) -> list[Figure]:
    return [
        figure(f"API RSS peak, 6 × {d['mb']} MB PUTs + {d['slow']} slow clients", d["peak_mb"],
               "MB", "< 150"),
        figure("uploads refused", d["uploads_refused"], "", f"== {d['uploads']}"),
        figure("slow clients cut off after (max)", d["slow_cut_off_max_s"], "s",
               f"<= {d['deadline_s'] + 1:g}"),
        figure("a normal request meanwhile", d["served"], "HTTP", "== 200"),
    ]  # fmt: skip


def ev_charging(d: dict[str, Any]) -> list[Figure]:
    return [
        figure(f"EV rush of 500: p99 (median of {d['rushes']})", d["rush_p99_ms"], "ms", "<= 100",
               "p99 1.4 s: " + ORIGINAL_EV),
        figure("EV rush: booked of requested", d["rush_booked_share"], "", "== 1"),
        figure("EV rush: max − min active sessions", d["rush_max_spread"], "", "<= 1",
               "500 of 500 to one substation: " + ORIGINAL_EV),
        figure("EV sustained without failures", d["sustained_best_per_s"], "answers/s", ">= 2000",
               "173–230 req/s: " + ORIGINAL_EV),
        figure("LB round p99 change during the rushes", d["round_p99_change_pct"], "%", "<= 20"),
    ]  # fmt: skip


def ev_predictive(d: dict[str, Any]) -> list[Figure]:
    i, p = d["instantaneous"], d["predictive"]
    return [
        figure("EV routing, ramping base load: instantaneous overload", i["overload_kwh"], "kWh"),
        figure("EV routing, ramping base load: predictive overload", p["overload_kwh"], "kWh",
               f"< {i['overload_kwh']:.2f}",
               f"instantaneous {i['overload_kwh']:.2f} kWh, same run"),
    ]  # fmt: skip


def loadtest_client(d: dict[str, Any]) -> list[Figure]:
    return [
        figure("loadtest client: rush of 500, p99 (worst)", d["rush_p99_ms_max"], "ms", "< 100",
               f"httpx pool: p99 {d['httpx_p99_ms']:.0f} ms, same run"),
        figure("loadtest client: highest rate kept up with", d["best_rate_per_s"], "req/s",
               ">= 2000"),
    ]  # fmt: skip


def rtds(d: dict[str, Any]) -> list[Figure]:
    out = []
    for c in d["cycles"]:
        delay = c["delay_ms"]
        out.append(figure(f"rtds cycle at {delay:g} ms, 3 links: p99", c["p99_ms"], "ms",
                          f"<= {delay + 2:g}",
                          "FREEDM: delay + round trip per cycle (published)"))  # fmt: skip
        out.append(figure(f"rtds cycle at {delay:g} ms: mean", c["mean_ms"], "ms"))
        out.append(figure(f"rtds cycle at {delay:g} ms: link errors", c["errors"], "", "== 0"))
    if d.get("idle"):
        out.append(figure("simserver idle CPU", d["idle"]["cpu_pct"], "% of a core", "<= 1"))
    return out


def sim_scale(d: dict[str, Any]) -> list[Figure]:
    by = {r["nodes"]: r for r in d["sizes"]}
    out = []
    for n, r in sorted(by.items()):
        target = "<= 1" if n == 1000 else ""
        out.append(figure(f"dgi sim, {n} nodes: wall s per virtual s", r["wall_per_virtual_s"],
                          "", target))  # fmt: skip
        if n == 1000:
            out.append(figure("dgi sim, 1000 nodes: converged", r["converged"], "", "== yes"))
            out.append(figure("dgi sim, 1000 nodes: peak RSS", r["memory_mb"], "MB"))
    if 100 in by and 1000 in by:
        pairs = (
            ("wall_per_node_ms", "wall per node"),
            ("datagrams_per_node_round", "datagrams per node per round"),
        )
        for key, label in pairs:
            ratio = by[1000][key] / by[100][key]
            out.append(figure(f"dgi sim, {label}: 1000 vs 100", ratio, "x", "<= 1.5"))
    return out


def cosim(d: dict[str, Any]) -> list[Figure]:
    n = f"{d['nodes']} nodes in {d['federates']} federates"
    plain, full = d["sim_plain"]["wall_per_virtual_s"], d["sim_full_wire"]["wall_per_virtual_s"]
    return [
        figure(f"HELICS, {n}: step median", d["step_median_ms"], "ms"),
        figure(f"HELICS, {n}: step p95", d["step_p95_ms"], "ms"),
        figure(f"HELICS, {n}: wall s per virtual s", d["wall_per_virtual_s"], "",
               peer=f"dgi sim {plain:.2f} plain / {full:.2f} full wire, same run"),
        figure("HELICS: nodes balanced", d["balanced_nodes"] / d["nodes"], "share", "== 1"),
        figure("HELICS: Σ setpoint change", abs(d["setpoint_sum_change_kw"]), "kW", "<= 0.001"),
        figure("dgi sim, same scenario, full wire: wall s per virtual s", full, ""),
    ]  # fmt: skip


def mosaik_step(d: list[dict[str, Any]]) -> list[Figure]:
    out = []
    for row in d:
        out.append(figure(f"mosaik, {row['variant']}: per 100 ms step", row["ms_per_step"], "ms"))
    out.append(figure("mosaik: sst1 balanced in every variant", all(r["balanced"] for r in d), "",
                      "== yes"))  # fmt: skip
    return out


def powerflow(d: dict[str, Any]) -> list[Figure]:
    out = []
    for row in d["networks"]:
        name = f"{row['network']} ({row['buses']} buses)"
        out.append(figure(f"plant tick with power flow, {name}: median", row["tick_median_ms"],
                          "ms"))  # fmt: skip
        out.append(figure(f"plant tick with power flow, {name}: p95", row["tick_p95_ms"], "ms"))
    return out


def clock_skew(d: list[dict[str, Any]]) -> list[Figure]:
    """The largest clock offset (either sign) up to which every offset converged."""
    by = sorted(d, key=lambda o: abs(o["offset_ms"]))
    tolerated = 0.0
    for o in by:
        if not o["converged"]:
            break
        tolerated = abs(o["offset_ms"])
    failed = [abs(o["offset_ms"]) for o in by if not o["converged"]]
    first_failed = f"first not converged at ±{min(failed):g} ms" if failed else "all converged"
    return [
        figure("clock skew tolerated (converged at every offset up to)", tolerated, "ms",
               peer=first_failed),
        figure("clock skew: Σ setpoint change, worst offset",
               max(abs(o["setpoint_sum_change"]) for o in d), "kW", "<= 0.001"),
    ]  # fmt: skip


EXTRACT: dict[str, Callable[[Any], list[Figure]]] = {
    "clock_skew": clock_skew,
    "device_io": device_io,
    "lb_round": lb_round,
    "sc": sc,
    "group": group,
    "timings": timings,
    "processes": processes,
    "memory": memory,
    "api_load": api_load,
    "api_abuse": api_abuse,
    "ev_charging": ev_charging,
    "ev_predictive": ev_predictive,
    "loadtest_client": loadtest_client,
    "rtds": rtds,
    "sim_scale": sim_scale,
    "cosim": cosim,
    "mosaik_step": mosaik_step,
    "powerflow": powerflow,
}


def figures_of(bench: str, stdout: str) -> list[Figure]:
    """The figures of ``bench`` from its output; ValueError/KeyError when it is not as expected."""
    return EXTRACT[bench](last_json(stdout))


# ---------------------------------------------------------------- the table
def show(value: Value) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if value != 0 and abs(value) < 0.01:
        return f"{value:.2g}"
    if abs(value) >= 1000:
        return f"{value:,.0f}".replace(",", " ")
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(outcomes: list[Outcome]) -> str:
    """The Markdown table: one row per figure, one row "failed" per failed benchmark."""
    lines = [
        "| benchmark | figure | value | unit | target | result | peer | load |",
        "|---|---|---:|---|---|---|---|---|",
    ]
    for o in outcomes:
        load = f"{o.load[0]:.2f}"
        if o.error:
            lines.append(f"| {o.bench} | — | — | | | **failed** | {cell(o.error)[:200]} | {load} |")
            continue
        for f in o.figures:
            target = str(f.target) if f.target else "—"
            verdict = "**short**" if f.verdict == "short" else f.verdict
            lines.append(
                f"| {o.bench} | {cell(f.name)} | {show(f.value)} | {f.unit} | {target} | "
                f"{verdict} | {cell(f.peer)} | {load} |"
            )
    return "\n".join(lines)


def tally(outcomes: list[Outcome]) -> dict[str, int]:
    counts = {"pass": 0, "short": 0, "—": 0, "n/a": 0, "failed": 0}
    for o in outcomes:
        if o.error:
            counts["failed"] += 1
        for f in o.figures:
            counts[f.verdict] += 1
    return counts


def as_json(outcomes: list[Outcome], machine: dict[str, Any]) -> dict[str, Any]:
    return {
        "machine": machine,
        "benchmarks": [
            {
                "bench": o.bench,
                "command": o.command,
                "seconds": round(o.seconds, 1),
                "load": list(o.load),
                "error": o.error or None,
                "figures": [
                    {
                        "figure": f.name,
                        "value": f.value,
                        "unit": f.unit,
                        "target": str(f.target) if f.target else None,
                        "result": f.verdict,
                        "peer": f.peer or None,
                    }
                    for f in o.figures
                ],
            }
            for o in outcomes
        ],
        "tally": tally(outcomes),
    }


def machine_lines(machine: dict[str, Any]) -> list[str]:
    """The header: what the table was measured on."""
    return [
        f"- taken: {machine['taken']}",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; RAM {machine['ram_gb']:.1f} GB",
        f"- Python {machine['python']}, {machine['os']}",
        f"- load average at the start: {' '.join(f'{v:.2f}' for v in machine['load_start'])}; "
        f"at the end: {' '.join(f'{v:.2f}' for v in machine['load_end'])}",
        f"- commit: {machine['commit']}; suite took {machine['suite_s']:.0f} s "
        f"({'quick' if machine['quick'] else 'standard'} parameters)",
    ]
