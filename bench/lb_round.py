"""Load-balancing benchmark, both modes: migration latency, round time, convergence.

    .venv/bin/python bench/lb_round.py [--seconds 30] [--json]

Everything runs as separate processes on loopback, as deployed: ``dgi simulate`` and one
``dgi run --trace`` per node. The figures come from the nodes' trace files (wall-clock times).

* Migration latency: from the DraftRequest sent to both setpoints written to the simulator
  (each Modbus write acknowledged), p50/p99. Two nodes; the benchmark steps their loads
  through Modbus every 0.3 s so there is always something to move.
* Round time: an LB round (device reads, decision, sends), p50/p99, for rounds that started
  no migration; and, for rounds that did, from the round's start until the last setpoint of
  its migrations was written (FREEDM's "one LB cycle with a migration").
* Convergence: ``dgi demo --report json`` on four-substations: seconds from the first LB round
  until every node was, and stayed, within tolerance; the final spread (largest |G - NG|).

Targets (adaptive): migration p50 <= 5 ms (the original DGI: ~141 ms on loopback), round p99
<= 10 ms, four-substations within 0.05 kW in <= 1 s. FREEDM mode: one step per supply node
per round, final |NG - G| < step.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.loader import load_site  # noqa: E402
from device_drivers.modbus import LinkPool  # noqa: E402
from device_drivers.registry import Connections, build_driver  # noqa: E402

DGI = [sys.executable, "-m", "controller"]
Event = dict[str, Any]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def site_copy(directory: Path, edit: Callable[[str], str] = lambda text: text) -> tuple[Path, str]:
    """three-substations.toml on free ports (devices on port 0, rewritten from the simulator's
    endpoints), ``edit`` applied, with a fresh key file; its path and sst1's API address."""
    text = (ROOT / "config/examples/three-substations.toml").read_text()
    text = re.sub(r"(?m)^(\s*port\s*=\s*)\d+", r"\g<1>0", text)
    text = edit(re.sub(r'"127\.0\.0\.1:\d+"', lambda _: f'"127.0.0.1:{free_port()}"', text))
    path = directory / "site.toml"
    path.write_text(text)
    subprocess.run(
        [sys.executable, "-m", "controller", "keygen", str(directory / "group.key")],
        check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    api = re.search(r'id = "sst1"\napi = "([^"]+)"', text)
    assert api is not None
    return path, api.group(1)


def rounds_between(trace: Path, spans: list[tuple[float, float]]) -> list[float]:
    """The LB round durations of a ``dgi run --trace`` file that fall in any of ``spans``."""
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    return [
        e["data"]["duration_s"]
        for e in events
        if e["kind"] == "round" and any(a <= e["t"] <= b for a, b in spans)
    ]


def report_rounds(quiet: list[float], loaded: list[float], label: str, width: int = 26) -> None:
    """The LB round p50 / p99 unloaded and under load, and the p99's change (target +20 %)."""
    for name, rounds in (("unloaded", quiet), (label, loaded)):
        p50, p99 = pct(rounds, 0.5) * 1000, pct(rounds, 0.99) * 1000
        print(f"  {name + ' p50 / p99':<{width}} {p50:.2f} / {p99:.2f} ms ({len(rounds)} rounds)")
    change = pct(loaded, 0.99) / pct(quiet, 0.99) - 1
    print(f"  {'p99 change':<{width}} {change * 100:+.1f} % (target: within +20 %)")


def two_node_site(directory: Path, mode: str) -> Path:
    """three-substations without sst3, on free ports, SSTs without lag, in ``mode``, keyed."""
    text = (ROOT / "config/examples/three-substations.toml").read_text()
    text = text.split('\n[[nodes]]\nid = "sst3"')[0]
    text = re.sub(r"(?m)^(\s*port\s*=\s*)\d+", r"\g<1>0", text)
    text = re.sub(r'"127\.0\.0\.1:\d+"', lambda _: f'"127.0.0.1:{free_port()}"', text)
    text = text.replace('mode = "adaptive"', f'mode = "{mode}"').replace(
        "lag_s = 0.2", "lag_s = 0.0"
    )
    # both gateways at -10: they sum to the net generations, so the site can balance
    for old in ("initial_kw = -20.0", "initial_kw = 10.0"):
        text = text.replace(old, "initial_kw = -10.0")
    path = directory / "site.toml"
    path.write_text(text)
    keygen = [*DGI, "keygen", str(directory / "group.key")]
    subprocess.run(keygen, check=True, capture_output=True, cwd=ROOT)
    return path


def free_port() -> int:
    """A UDP port below the ephemeral range, so no client socket takes it meanwhile."""
    for port in random.sample(range(20000, 32768), 200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port found in 20000-32767")


def spawn(args: list[str]) -> subprocess.Popen[bytes]:
    """A quiet child process in the repository root."""
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_all(procs: list[subprocess.Popen[bytes]], timeout_s: float = 10.0) -> None:
    """SIGTERM every process, then reap each."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout_s)


def wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the simulator did not start")
        time.sleep(0.05)


def wait_ready(api: str, limit_s: float = 30.0) -> None:
    """Until the node at ``api`` (host:port) answers /readyz with 200."""
    import httpx

    deadline = time.monotonic() + limit_s
    while True:
        try:
            if httpx.get(f"http://{api}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"the node at {api} did not become ready")
        time.sleep(0.2)


async def perturb(site_path: Path, where: dict[str, tuple[str, int]], seconds: float) -> None:
    """Step the two loads against each other every 0.3 s, through Modbus."""
    site = load_site(site_path)
    pool = LinkPool()
    loads = [
        build_driver(site.device(i), Connections(pool), address=where[i])
        for i in ("sst1-load", "sst2-load")
    ]
    drain = 20.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.3)
        drain = 14.0 if drain == 20.0 else 20.0
        await loads[0].write("drain", drain)
        await loads[1].write("drain", 45.0 - drain)
    for load in loads:
        await load.close()
    pool.close()


def run_nodes(mode: str, seconds: float, directory: Path) -> list[Event]:
    site = two_node_site(directory, mode)
    endpoints = directory / "endpoints.json"
    simulate = [*DGI, "simulate", "--config", str(site), "--endpoints", str(endpoints)]
    procs = [spawn(simulate)]
    try:
        wait_for(endpoints, procs[0])
        where = {r["device"]: (r["host"], r["port"]) for r in json.loads(endpoints.read_text())}
        rewrite_ports(site, endpoints)
        for node in ("sst1", "sst2"):
            trace = directory / f"{node}.trace"
            command = [*DGI, "run", "--config", str(site), "--node", node, "--hold-on-exit"]
            procs.append(spawn([*command, "--trace", str(trace)]))
        asyncio.run(perturb(site, where, seconds))
    finally:
        stop_all(procs)
    events = []
    for trace in directory.glob("*.trace"):
        events += [json.loads(line) for line in trace.read_text().splitlines()]
    return sorted(events, key=lambda e: e["t"])


def rewrite_ports(site: Path, endpoints: Path) -> None:
    """Point the site's device ports at where the simulator actually listens (it bound port 0)."""
    rows = {r["device"]: r["port"] for r in json.loads(endpoints.read_text())}
    out, device = [], None
    for line in site.read_text().splitlines():
        match = re.match(r'\s*id\s*=\s*"([^"]+)"', line)
        if match:
            device = match.group(1)
        if re.match(r"\s*port\s*=\s*0\s*$", line) and device in rows:
            line = f"port = {rows[device]}"
        out.append(line)
    site.write_text("\n".join(out) + "\n")


def first(events: list[Event], after: float, **match: Any) -> Event | None:
    for event in events:
        if event["t"] >= after and all(
            event.get(k, event["data"].get(k)) == v for k, v in match.items()
        ):
            return event
    return None


def analyse(events: list[Event]) -> dict[str, float]:
    latencies, with_migration = [], []
    rounds = [e for e in events if e["kind"] == "round"]
    migrating_rounds = set()
    for select in (e for e in events if e["kind"] == "select"):
        supply, demand, tx = select["node"], select["data"]["peer"], select["data"]["tx"]
        request = [
            e
            for e in events
            if e["kind"] == "request" and e["node"] == supply and e["t"] <= select["t"]
        ][-1]
        # Notes of two processes can be recorded in either order (the demand may note its
        # accept before the supply notes its select): search from the request on.
        accept = first(
            events,
            request["t"],
            kind="accept",
            node=demand,
            peer=supply,
            **({"tx": tx} if tx else {}),
        )
        if accept is None or accept["t"] > select["t"] + 1.0:
            continue  # refused (TooLate)
        mine = first(events, request["t"], kind="written", node=supply)
        theirs = first(events, request["t"], kind="written", node=demand)
        if mine is None or theirs is None:
            continue
        done = max(mine["t"], theirs["t"])
        latencies.append(done - request["t"])
        own = next(r for r in rounds if r["node"] == supply and r["t"] >= request["t"] - 1e-6)
        migrating_rounds.add(id(own))
        with_migration.append(done - (own["t"] - own["data"]["duration_s"]))
    plain = [r["data"]["duration_s"] for r in rounds if id(r) not in migrating_rounds]
    return {
        "migrations": len(latencies),
        "migration_p50_ms": pct(latencies, 0.5) * 1000,
        "migration_p99_ms": pct(latencies, 0.99) * 1000,
        "round_p50_ms": pct(plain, 0.5) * 1000,
        "round_p99_ms": pct(plain, 0.99) * 1000,
        "rounds": len(rounds),
        "round_with_migration_p50_ms": pct(with_migration, 0.5) * 1000,
        "round_with_migration_p99_ms": pct(with_migration, 0.99) * 1000,
    }


def convergence(mode: str, directory: Path) -> dict[str, Any]:
    text = (ROOT / "config/examples/four-substations.toml").read_text()
    text = re.sub(r"(?m)^(\s*port\s*=\s*)\d+", r"\g<1>0", text)
    site = directory / "four.toml"
    site.write_text(text)
    seconds = "8" if mode == "adaptive" else "16"
    command = [*DGI, "demo", "--config", str(site), "--duration", seconds, "--report", "json"]
    out = subprocess.run([*command, "--mode", mode], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        said = (out.stdout + out.stderr).strip().splitlines() or ["(nothing)"]
        raise SystemExit(f"dgi demo --mode {mode} on four-substations exited {out.returncode}: "
                         f"{said[-1]}")  # fmt: skip
    report = json.loads(out.stdout)
    nodes = report["nodes"]
    return {
        "converged_at_s": report["converged_at_s"],
        "final_spread_kw": max(abs(n["gateway"] - n["net_generation"]) for n in nodes),
        "convergence_migrations": sum(n["migrations_out"] for n in nodes),
        "setpoint_sum_change": report["setpoint_sum_change"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="migration run per mode")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    for mode in ("adaptive", "freedm"):
        with tempfile.TemporaryDirectory() as tmp:
            traced = analyse(run_nodes(mode, args.seconds, Path(tmp)))
            results[mode] = {**traced, **convergence(mode, Path(tmp))}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for mode, r in results.items():
        print(f"{mode}")
        print(f"  migrations measured          {r['migrations']} in {r['rounds']} rounds")
        p50, p99 = r["migration_p50_ms"], r["migration_p99_ms"]
        print(f"  migration p50 / p99          {p50:.2f} / {p99:.2f} ms")
        print(
            f"  round p50 / p99, no migr.    {r['round_p50_ms']:.2f} / {r['round_p99_ms']:.2f} ms"
        )
        p50, p99 = r["round_with_migration_p50_ms"], r["round_with_migration_p99_ms"]
        print(f"  round p50 / p99, migration   {p50:.2f} / {p99:.2f} ms")
        print(f"  four-substations             converged after {r['converged_at_s']} s")
        print(f"    final spread               {r['final_spread_kw']:.4f} kW")
        print(f"    migrations                 {r['convergence_migrations']}")
        print(f"    setpoint sum change        {r['setpoint_sum_change']}")


if __name__ == "__main__":
    main()
