"""Many node processes on this machine: N ``dgi run`` (default 30) and one ``dgi simulate``,
with FREEDM's ``fast-30`` timings and group management, as a lab would start them.

    .venv/bin/python bench/processes.py [--nodes 30] [--seconds 60] [--profile fast-30]
                                    [--json]

Prints: seconds until all N are ready in one group, round overruns per minute over the
measured window (target 0), the group as the nodes report it, and the nodes' memory.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lb_round import DGI, free_port, rewrite_ports, spawn, stop_all, wait_for  # noqa: E402


def site(directory: Path, nodes: int, profile: str) -> Path:
    text = (ROOT / "config/examples/three-substations.toml").read_text()
    head, rest = text.split("\n[[nodes]]\n", 1)
    block = "[[nodes]]\n" + rest.split("\n[[nodes]]\n", 1)[0]
    head = head.replace('profile = "fast-5"', f'profile = "{profile}"')
    head = re.sub(r"(?m)^control = .*$", "", head)
    blocks = []
    for n in range(1, nodes + 1):
        b = block.replace("sst1", f"sst{n}")
        b = re.sub(r"(?m)^(\s*port\s*=\s*)\d+", r"\g<1>0", b)
        b = re.sub(r'"127\.0\.0\.1:\d+"', lambda _: f'"127.0.0.1:{free_port()}"', b)
        blocks.append(b.replace("initial_kw = -20.0", f"initial_kw = {-20.0 + (n % 3) * 15}"))
    path = directory / "site.toml"
    path.write_text(head + "\n" + "\n".join(blocks))
    subprocess.run([*DGI, "keygen", str(directory / "group.key")], check=True, cwd=ROOT,
                   capture_output=True)  # fmt: skip
    return path


def status(api: str) -> dict[str, object] | None:
    import httpx

    try:
        answer: dict[str, object] = httpx.get(f"http://{api}/api/v1/status", timeout=2).json()
        return answer
    except (httpx.HTTPError, ValueError):
        return None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--profile", default="fast-30")
    parser.add_argument("--json", action="store_true", help="the output is JSON either way")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        path = site(directory, args.nodes, args.profile)
        endpoints = directory / "endpoints.json"
        procs = [spawn([*DGI, "simulate", "--config", str(path), "--endpoints", str(endpoints)])]
        try:
            wait_for(endpoints, procs[0])
            rewrite_ports(path, endpoints)
            apis = re.findall(r'(?m)^api = "([^"]+)"', path.read_text())
            started = time.monotonic()
            for n in range(1, args.nodes + 1):
                procs.append(spawn([*DGI, "run", "--config", str(path), "--node", f"sst{n}"]))
            formed = None
            while time.monotonic() - started < 120:
                seen = [status(a) for a in apis]
                if all(s is not None and len(s["group"]) == args.nodes for s in seen):  # type: ignore[arg-type]
                    formed = time.monotonic() - started
                    break
                time.sleep(1.0)
            before = [status(a) for a in apis]
            time.sleep(args.seconds)
            after = [status(a) for a in apis]
            overruns = sum(
                a["counters"]["round_overruns"] - b["counters"]["round_overruns"]  # type: ignore[index]
                for a, b in zip(after, before, strict=True)
                if a is not None and b is not None
            )
            groups = {(s["leader"], len(s["group"])) for s in after if s is not None}  # type: ignore[arg-type]
            memory = [rss_mb(p.pid) for p in procs[1:]]
            print(json.dumps({
                "nodes": args.nodes,
                "profile": args.profile,
                "one_group_after_s": None if formed is None else round(formed, 1),
                "round_overruns_per_minute": round(overruns * 60 / args.seconds, 2),
                "groups_at_end": sorted(groups),
                "node_rss_mb_max": round(max(memory), 1),
                "node_rss_mb_mean": round(sum(memory) / len(memory), 1),
            }, indent=2))  # fmt: skip
        finally:
            stop_all(procs, 20)


if __name__ == "__main__":
    main()
