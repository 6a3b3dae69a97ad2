"""Status API under load, and what the load does to the control loop.

    .venv/bin/python bench/api_load.py [--seconds 20] [--clients 50]

The simulator and one node (``dgi run --trace``, its API in its own process at lower CPU
priority) on loopback. First the node runs alone for ``--seconds``; then ``wrk`` (Debian
package) keeps ``--clients`` connections busy on ``/api/v1/status`` for as long, at lower CPU
priority too (the clients stand for browsers and scripts on other machines). Prints the API's
requests/s and latency percentiles, and the LB round p50/p99 without and with the load.
Target: round p99 under load within 20 % of the unloaded value.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from lb_round import free_port, pct, rewrite_ports, spawn, wait_for, wait_ready  # noqa: E402

DGI = [sys.executable, "-m", "controller"]


def site_copy(directory: Path) -> tuple[Path, str]:
    text = (ROOT / "config/examples/three-substations.toml").read_text()
    text = re.sub(r"(?m)^(\s*port\s*=\s*)\d+", r"\g<1>0", text)
    text = re.sub(r'"127\.0\.0\.1:\d+"', lambda _: f'"127.0.0.1:{free_port()}"', text)
    path = directory / "site.toml"
    path.write_text(text)
    subprocess.run(
        [*DGI, "keygen", str(directory / "group.key")], check=True, capture_output=True, cwd=ROOT
    )
    api = re.search(r'id = "sst1"\napi = "([^"]+)"', text)
    assert api is not None
    return path, api.group(1)


def rounds_between(trace: Path, start: float, end: float) -> list[float]:
    events = [json.loads(line) for line in trace.read_text().splitlines()]
    return [
        e["data"]["duration_s"] for e in events if e["kind"] == "round" and start <= e["t"] <= end
    ]


def run_wrk(url: str, clients: int, seconds: float) -> dict[str, float]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    out = subprocess.run(
        ["nice", "-n", "10", wrk, "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    figures = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    units = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
    for label in ("50", "90", "99"):
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        figures[f"latency_p{label}_ms"] = float(value) * units[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site, api = site_copy(Path(tmp))
        endpoints, trace = Path(tmp) / "endpoints.json", Path(tmp) / "sst1.trace"
        procs = [spawn([*DGI, "simulate", "--config", str(site), "--endpoints", str(endpoints)])]
        try:
            wait_for(endpoints, procs[0])
            rewrite_ports(site, endpoints)
            procs.append(
                spawn([*DGI, "run", "--config", str(site), "--node", "sst1", "--trace", str(trace)])
            )
            wait_ready(api)
            quiet_start = time.time()
            time.sleep(args.seconds)
            quiet_end = load_start = time.time()
            load = run_wrk(f"http://{api}/api/v1/status", args.clients, args.seconds)
            load_end = time.time()
            time.sleep(1.0)  # let the trace reach the file
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
        quiet = rounds_between(trace, quiet_start, quiet_end)
        loaded = rounds_between(trace, load_start, load_end)
    report(args, load, quiet, loaded)


def report(
    args: argparse.Namespace, load: dict[str, float], quiet: list[float], loaded: list[float]
) -> None:
    ms = {key: value for key, value in load.items() if key.endswith("_ms")}
    print(f"status API, {args.clients} concurrent clients for {args.seconds:g} s (wrk, nice 10)")
    print(f"  requests/s                 {load['requests_per_s']:.0f}")
    latency = " / ".join(f"{ms[f'latency_p{q}_ms']:.2f}" for q in ("50", "90", "99"))
    print(f"  latency p50 / p90 / p99    {latency} ms")
    print(f"  non-2xx answers            {load['non_2xx']:.0f}")
    print("LB round of the node (device reads, decision, sends)")
    for label, rounds in (("unloaded", quiet), ("under load", loaded)):
        p50, p99 = pct(rounds, 0.5) * 1000, pct(rounds, 0.99) * 1000
        print(f"  {label + ' p50 / p99':<26} {p50:.2f} / {p99:.2f} ms ({len(rounds)} rounds)")
    change = pct(loaded, 0.99) / pct(quiet, 0.99) - 1
    print(f"  p99 change                 {change * 100:+.1f} % (target: within +20 %)")


if __name__ == "__main__":
    main()
