"""What a tick of the pandapower plant costs: the plant's advance plus the power flow, warm.

    .venv/bin/python bench/powerflow.py [--ticks 200] [--json]

The plant of config/examples/demo-grid.toml (three substations with their homes, PV,
batteries and meters; the profiles play a day in four minutes, so the loads change from tick
to tick, and each tick also moves every Load by up to ±20 %) on pandapower's CIGRE MV
network (15 buses) and on mv_oberrhein (179 buses, the nodes spread automatically). Each
tick advances the plant by its ``tick_s``, so every tick runs a power flow
(``runpp(init="results")``). Prints the median, p95 and max of the whole tick and of the
power flow alone, after a few warm-up ticks, and the network's voltage range at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.loader import load_site  # noqa: E402
from config.site import Site  # noqa: E402
from simulators.grid import Grid  # noqa: E402
from simulators.site_plant import build_plant  # noqa: E402

WARM_UP = 5


def on_network(site: Site, network: str) -> Site:
    buses = site.grid.buses if network == site.grid.network else {}
    grid = site.grid.model_copy(update={"network": network, "buses": buses})
    return dataclasses.replace(site, document=site.document.model_copy(update={"grid": grid}))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    site: Site, ticks: int, rng: random.Random
) -> tuple[int, list[float], list[float], str]:
    started = time.perf_counter()
    plant = build_plant(site, plant="pandapower")
    built = time.perf_counter() - started
    grid = plant.grid
    assert isinstance(grid, Grid)
    loads = [d.device_id for d in plant.devices.values() if d.type == "Load"]
    tick, totals, flows = site.grid.tick_s, [], []
    for n in range(1, WARM_UP + ticks + 1):
        for load in loads:  # a step of up to ±20 % on top of the profile
            plant.devices[load].model.overrides.pop("drain", None)
        plant.advance(n * tick - 0.05)
        for load in loads:
            drain = plant.read(load, "drain") or 0.0
            plant.override(load, "drain", drain * rng.uniform(0.8, 1.2))
        start = time.perf_counter()
        plant.advance(n * tick)
        total = time.perf_counter() - start
        if n > WARM_UP:
            totals.append(total)
            flows.append(grid.solve_s)
    assert plant.grid_faults == 0, plant.grid_fault
    return len(grid.net.bus), totals, flows, f"built in {built:.2f} s; at the end {grid.figures}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    site = load_site(ROOT / "config" / "examples" / "demo-grid.toml")
    rng = random.Random(13)
    rows: list[dict[str, object]] = []
    notes = []
    for network in ("cigre-mv", "mv-oberrhein"):
        net_site = on_network(site, network)
        buses, totals, flows, note = measure(net_site, args.ticks, rng)
        row: dict[str, object] = {"network": network, "buses": buses}
        for label, values in (("tick", totals), ("flow", flows)):
            ms = [v * 1000 for v in values]
            row[f"{label}_median_ms"] = statistics.median(ms)
            row[f"{label}_p95_ms"] = percentile(ms, 0.95)
            row[f"{label}_max_ms"] = max(ms)
        rows.append(row)
        notes.append(f"{network}: {note}")
    if args.json:
        print(json.dumps({"ticks": args.ticks, "networks": rows}, indent=2))
        return
    print(f"{args.ticks} ticks each, after {WARM_UP} warm-up ticks; milliseconds")
    print(f"{'network':<14} {'buses':>5}  {'':<10} {'median':>7} {'p95':>7} {'max':>7}")
    for row in rows:
        for label, key in (("tick", "tick"), ("power flow", "flow")):
            print(
                f"{row['network']:<14} {row['buses']:>5}  {label:<10} "
                f"{row[f'{key}_median_ms']:>7.1f} {row[f'{key}_p95_ms']:>7.1f} "
                f"{row[f'{key}_max_ms']:>7.1f}"
            )
    print("\n".join(notes))


if __name__ == "__main__":
    main()
