"""Predictive against instantaneous EV routing, where a substation's base load ramps up.

    .venv/bin/python bench/ev_predictive.py [--minutes 40] [--seed 1] [--json]

Three substations of 100 kW with ``count_base_load``: sst1's base load ramps from 10 to 85 kW
over the first 30 minutes (an industrial estate starting its day), sst2 and sst3 stay at 30 kW.
An EV asks every 20 s (7 kW for 30 minutes), through sst1. The real EV modules route and admit
(in virtual time, every message delivered at once, each node's figures shared every second as
state collection would); a session admitted against the base load of its moment stays when the
base load then rises, so what matters is where the sessions went: the overload is the energy
above capacity (base + sessions − capacity, kWh), and its peak. Instantaneous routing sends the
early EVs to sst1, which looks emptiest; predictive routing sees its trend and sends them
elsewhere.
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import itertools
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.core.collected import Collected, MemberState  # noqa: E402
from controller.core.effects import Answer, Effect, Send, StartTimer  # noqa: E402
from controller.core.group import Group  # noqa: E402
from controller.ev.module import EvModule  # noqa: E402
from controller.ev.settings import EvSettings  # noqa: E402

NODES = ("sst1", "sst2", "sst3")
CAPACITY_KW = 100.0


@dataclass(frozen=True)
class Outcome:
    overload_kwh: float
    peak_over_kw: float
    booked: dict[str, int]
    refused: int


def base_load(node: str, t: float) -> float:
    if node == "sst1":
        return 10.0 + 75.0 * min(1.0, t / 1800.0)
    return 30.0


def run(predictive: bool, minutes: float = 40.0, seed: int = 1) -> Outcome:
    rng = random.Random(seed)
    settings = EvSettings(CAPACITY_KW, count_base_load=True, predictive=predictive,
                          trend_tau_s=120.0)  # fmt: skip
    modules = {n: EvModule(n, settings, epoch=1) for n in NODES}
    group = Group.of("g", "sst1", NODES)
    for module in modules.values():
        module.group_changed(group, 0.0)
    timers: list[tuple[float, int, str, tuple[str | int, ...]]] = []
    order = itertools.count()
    answers: list[int] = []

    def apply(node: str, effects: list[Effect], now: float) -> None:
        inbox = [(node, e) for e in effects]
        while inbox:
            source, effect = inbox.pop(0)
            if isinstance(effect, Send):
                reply = modules[effect.to].message(source, effect.message, now)
                inbox += [(effect.to, e) for e in reply]
            elif isinstance(effect, StartTimer):
                heapq.heappush(timers, (effect.at, next(order), source, effect.key))
            elif isinstance(effect, Answer):
                answers.append(effect.status)

    overload_kws = 0.0
    peak = 0.0
    tokens = itertools.count(1)
    end = minutes * 60.0
    t = 0.0
    while t < end:
        t += 1.0
        while timers and timers[0][0] <= t:
            _, _, node, key = heapq.heappop(timers)
            apply(node, modules[node].timer(key, t), t)
        for node, module in modules.items():
            apply(node, module.observe(base_load(node, t), t), t)
        members = {}
        for node, module in modules.items():
            v = module.view(t)
            members[node] = MemberState("normal", None, 0.0, 0.0, 0.0, 0, v.capacity_kw,
                                        v.load_kw, v.trend, v.at)  # fmt: skip
        collected = Collected(int(t), "g", "sst1", members, (), t, 0.0)
        for module in modules.values():
            module.state_collected(collected, t)
        if int(t) % 20 == 0 and t <= 1800.0:
            body = {"power_kw": 7.0, "duration_s": 1800.0 + rng.uniform(-60.0, 60.0)}
            apply("sst1", modules["sst1"].charge(next(tokens), body, t), t)
        for node, module in modules.items():
            over = base_load(node, t) + module.booked_kw() - CAPACITY_KW
            if over > 0:
                overload_kws += over
                peak = max(peak, over)
    booked = {n: m.sessions_total for n, m in modules.items()}
    return Outcome(overload_kws / 3600.0, peak, booked, answers.count(503))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.json:
        variants = (("instantaneous", False), ("predictive", True))
        outcomes = {
            label: dataclasses.asdict(run(predictive, args.minutes, args.seed))
            for label, predictive in variants
        }
        print(json.dumps(outcomes, indent=2))
        return
    print("EV routing with sst1's base load ramping 10 → 85 kW (three 100 kW substations)")
    for label, predictive in (("instantaneous", False), ("predictive", True)):
        o = run(predictive, args.minutes, args.seed)
        per = " ".join(f"{n} {o.booked[n]}" for n in NODES)
        print(f"  {label:<14} overload {o.overload_kwh:6.2f} kWh, peak {o.peak_over_kw:5.1f} kW "
              f"over capacity · sessions {per} · refused {o.refused}")  # fmt: skip


if __name__ == "__main__":
    main()
