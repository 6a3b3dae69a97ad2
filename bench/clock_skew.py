"""How much clock skew a group tolerates: the phases are aligned to wall clock.

    .venv/bin/python bench/clock_skew.py [--site FILE] [--node ID] [--offsets MS,...] [--json]

Every node runs its phases (group management, state collection, load balancing) at fixed
offsets of the wall clock, so nodes on different hosts agree on the phase only as well as
their clocks agree. This runs a site's nodes in virtual time (:func:`site_group`: the real
node cores, wire stage and group management around the simulators' plant) with one node's
clock off by each offset in turn — ahead (+) and behind (−) — and reports, from the plant:

Half-way, 5 kW of load moves from the last node to the first, so the group must balance twice:

* converged: every gateway within the tolerance of its net generation for the last 10 s of
  both halves;
* convergence, after the load step: the virtual seconds until it was so for good;
* migrations: the migrations the nodes made (a skewed node can make the others retry);
* Σ setpoint change: the sum over the SSTs of (held setpoint − initial), which must stay 0
  (power is moved, never created);
* in one group: the share of samples (every 0.1 s) with every node in one group, and group
  changes: how many times a node's group or leader changed (a skewed clock splits the group).

The default is three-substations.toml with sst2 (the node that must give power away) off.
docs/deployment.md records the table and the recommendation drawn from it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.loader import load_site  # noqa: E402
from config.site import Site  # noqa: E402
from config.timings import PROFILES  # noqa: E402
from controller.core.phases import PhasePlan  # noqa: E402
from controller.sim.site_group import site_group  # noqa: E402
from controller.virtual.group import VirtualGroup  # noqa: E402
from simulators.plant import SeriesModel  # noqa: E402

DEFAULT_SITE = ROOT / "config/examples/three-substations.toml"
OFFSETS_MS = (0, 10, 25, 35, 40, 50, 75, 100, 200, 400, 800, 1600)
DURATION_S = 60.0
STEP_S = 0.1
LOAD_STEP_KW = 5.0  # moved from the last node's load to the first's at half time
SETTLED_S = 10.0  # balanced for this long at the end: converged
START = 1_000_000.0


@dataclass
class Outcome:
    offset_ms: float
    converged: bool  # balanced at the end of both halves
    convergence_s: float | None  # from the start
    reconvergence_s: float | None  # from the load step at half time
    migrations: int
    setpoint_sum_change: float
    one_group: float  # the share of samples with every node in one group
    group_changes: int


def loads(site: Site) -> tuple[str, str]:
    """The first Load of the first and of the last node: the step moves load between them."""
    first, last = site.nodes[0].id, site.nodes[-1].id
    by_node = {d.node_id: d.entry.id for d in reversed(site.devices) if d.entry.type == "Load"}
    return by_node[first], by_node[last]


def move_load(group: VirtualGroup, site: Site, kw: float) -> None:
    """``kw`` of load moves from the last node to the first: the group must rebalance."""
    shared = group.shared
    assert shared is not None
    for device, delta in zip(loads(site), (kw, -kw), strict=True):
        model = shared.plant_of(device).devices[device].model
        assert isinstance(model, SeriesModel)
        shared.set_series(device, constant(model.series(group.now) + delta), group.now)


def constant(value: float) -> Callable[[float], float]:
    return lambda _t: value


def settled(last_bad: float | None, since: float, until: float) -> float | None:
    """Seconds from ``since`` until balanced for good, None when not balanced for the last
    ``SETTLED_S`` before ``until``."""
    if last_bad is None or last_bad < since:
        return 0.0
    return last_bad - since if last_bad <= until - SETTLED_S else None


def run(site: Site, node: str, offset_ms: float, *, duration_s: float = DURATION_S) -> Outcome:
    group = site_group(site, start=START, clock_offsets={node: offset_ms / 1000.0})
    band = site.algorithm.tolerance
    half = duration_s / 2
    bad: list[float | None] = [None, None]  # the last unbalanced sample of each half
    seen: dict[str, tuple[object, object]] = {}
    changes = together = samples = 0
    t = 0.0
    while t < duration_s:
        t = round(t + STEP_S, 6)
        group.run_until(START + t)
        if t == half:
            move_load(group, site, LOAD_STEP_KW)
        if any(abs(e) > band + 1e-9 for e in group.imbalance().values()):
            bad[t >= half] = t
        now: dict[str, tuple[object, object]] = {
            n: (v.core.lb.group_id, v.core.lb.leader) for n, v in group.nodes.items()
        }
        changes += sum(1 for n in now if n in seen and seen[n] != now[n])
        seen = now
        samples += 1
        together += len(set(now.values())) == 1
    first = settled(bad[0], 0.0, half)
    second = settled(bad[1], half, duration_s)
    return Outcome(
        offset_ms=offset_ms,
        converged=first is not None and second is not None,
        convergence_s=first,
        reconvergence_s=second,
        migrations=sum(v.core.lb.migrations_out for v in group.nodes.values()),
        setpoint_sum_change=round(group.setpoint_sum_change(), 9),
        one_group=together / samples,
        group_changes=changes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--site", type=Path, default=ROOT / "config/examples/three-substations.toml"
    )
    parser.add_argument("--node", default="sst2", help="the node whose clock is off")
    parser.add_argument(
        "--offsets",
        default=",".join(str(o) for o in OFFSETS_MS),
        help="milliseconds, comma-separated",
    )
    parser.add_argument("--duration", type=float, default=DURATION_S, help="virtual seconds")
    parser.add_argument("--profile", choices=sorted(PROFILES), help="timings instead of the site's")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    site = load_site(args.site)
    if args.profile is not None:
        site = replace(site, timings=PROFILES[args.profile])
    offsets = [float(o) for o in args.offsets.split(",")]
    signed = [0.0] + [s * o for o in offsets if o for s in (1.0, -1.0)]
    outcomes = [run(site, args.node, o, duration_s=args.duration) for o in signed]
    if args.json:
        print(json.dumps([asdict(o) for o in outcomes], indent=2))
        return
    plan = PhasePlan.from_timings(site.timings)
    print(
        f"site {site.name} ({args.profile or 'its own timings'}), {args.node}'s clock off; "
        f"{args.duration:g} virtual s each; "
        f"cycle {plan.cycle_s:g} s (GM {plan.gm_s:g}, SC {plan.sc_s:g}, LB {plan.lb_s:g}, "
        f"round {plan.round_s:g} s)"
    )
    print(
        "| offset | converged | convergence | after the load step | migrations "
        "| Σ setpoint change | in one group | group changes |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for o in outcomes:
        print(
            f"| {o.offset_ms:+g} ms | {'yes' if o.converged else 'no'} | "
            f"{_seconds(o.convergence_s)} | {_seconds(o.reconvergence_s)} | {o.migrations} | "
            f"{o.setpoint_sum_change:+.3f} kW | {o.one_group:.0%} | {o.group_changes} |"
        )


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


if __name__ == "__main__":
    main()
