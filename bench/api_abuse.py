"""The status API of one node under abuse: what it costs the API process.

    .venv/bin/python bench/api_abuse.py [--mb 100] [--slow 100] [--json]

The simulator and one ``dgi run`` node (single-node site) on loopback. Then, against the
node's API process: six concurrent unauthenticated PUTs of 100 MB each, and 100 clients that
send their request a byte a second. Prints the API process's resident memory before, at its
peak and after, what each upload got and how much of it was sent before the refusal, and how
long the slow clients were held. Target: the API process stays under 150 MB; slow clients
are cut off at the request deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lb_round import free_port, rewrite_ports, spawn, wait_for, wait_ready  # noqa: E402

from controller.api.server import REQUEST_TIMEOUT_S  # noqa: E402

DGI = [sys.executable, "-m", "controller"]
TARGET_MB = 150.0


def rss_mb(pid: int) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(match.group(1)) / 1024 if match else 0.0


def api_pid(node_pid: int) -> int:
    children = Path(f"/proc/{node_pid}/task/{node_pid}/children").read_text().split()
    for child in children:
        if "controller.api.server" in Path(f"/proc/{child}/cmdline").read_text():
            return int(child)
    raise SystemExit("the node's API process was not found")


async def upload(host: str, port: int, size: int) -> tuple[str, int, float]:
    """(status line, bytes sent before the answer, seconds to the answer)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"PUT /api/v1/control HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n".encode()
    )
    chunk, sent, answer = b"x" * 65536, 0, b""
    try:
        while sent < size and not answer:
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.read(4096), 0.0005)
        if not answer:
            answer = await asyncio.wait_for(reader.read(4096), 10)
    except ConnectionError:
        pass
    writer.close()
    return answer.split(b"\r\n", 1)[0].decode(), sent, time.monotonic() - started


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True when the server closed the connection within ``seconds``."""
    try:
        return await asyncio.wait_for(reader.read(1), seconds) == b""
    except TimeoutError:
        return False


async def dribble(host: str, port: int) -> float:
    """Send a request a byte a second; seconds until the server closed the connection."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for byte in b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n":
            writer.write(bytes([byte]))
            await writer.drain()
            if await closed_within(reader, 1.0):
                break
    except ConnectionError:
        pass
    writer.close()
    return time.monotonic() - started


async def abuse(host: str, port: int, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    peak = rss_mb(pid)

    async def sample() -> None:
        nonlocal peak
        while True:
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    before = rss_mb(pid)
    uploads = await asyncio.gather(*(upload(host, port, args.mb << 20) for _ in range(6)))
    slow = await asyncio.gather(*(dribble(host, port) for _ in range(args.slow)))
    async with httpx.AsyncClient(timeout=5) as client:
        served = (await client.get(f"http://{host}:{port}/api/v1/status")).status_code
    sampler.cancel()
    after = rss_mb(pid)
    return {
        "mb": args.mb,
        "slow": args.slow,
        "before_mb": before,
        "peak_mb": peak,
        "after_mb": after,
        "uploads": len(uploads),
        "uploads_refused": sum(1 for status, _, _ in uploads if status.split(" ")[1:2] != ["200"]),
        "upload_answers": [
            {"status": status, "sent_mb": sent / 1e6, "ms": seconds * 1000}
            for status, sent, seconds in uploads
        ],
        "slow_cut_off_min_s": min(slow),
        "slow_cut_off_max_s": max(slow),
        "deadline_s": REQUEST_TIMEOUT_S,
        "served": served,
    }


def report(f: dict[str, Any]) -> None:
    verdict = "pass" if f["peak_mb"] < TARGET_MB else "SHORT"
    print(f"API process resident memory: before {f['before_mb']:.1f} MB, peak "
          f"{f['peak_mb']:.1f} MB, after {f['after_mb']:.1f} MB (target < {TARGET_MB:g} MB: "
          f"{verdict})")  # fmt: skip
    for answer in f["upload_answers"]:
        print(f"  {f['mb']} MB unauthenticated PUT: {answer['status']!r} after "
              f"{answer['sent_mb']:.2f} MB sent, {answer['ms']:.0f} ms")  # fmt: skip
    held = f"{f['slow_cut_off_min_s']:.1f}..{f['slow_cut_off_max_s']:.1f} s"
    print(f"  {f['slow']} clients at a byte a second: cut off after {held}")
    print(f"  a normal request meanwhile: {f['served']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=100, help="size of each upload")
    parser.add_argument("--slow", type=int, default=100, help="slow clients")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        text = (ROOT / "config/examples/single-node.toml").read_text()
        text = re.sub(r"(?m)^(\s*port\s*=\s*)\d+", r"\g<1>0", text)
        text = re.sub(r'"127\.0\.0\.1:\d+"', lambda _: f'"127.0.0.1:{free_port()}"', text)
        site = Path(tmp) / "site.toml"
        site.write_text(text)
        for command in ("keygen", "api-token"):
            name = "group.key" if command == "keygen" else "api.token"
            subprocess.run([*DGI, command, str(Path(tmp) / name)], check=True,
                           capture_output=True, cwd=ROOT)  # fmt: skip
        api = re.search(r'api = "([^"]+)"', text)
        assert api is not None
        host, port = api.group(1).rsplit(":", 1)
        endpoints = Path(tmp) / "endpoints.json"
        procs = [spawn([*DGI, "simulate", "--config", str(site), "--endpoints", str(endpoints)])]
        try:
            wait_for(endpoints, procs[0])
            rewrite_ports(site, endpoints)
            procs.append(spawn([*DGI, "run", "--config", str(site), "--node", "sst1"]))
            wait_ready(f"{host}:{port}")
            figures = asyncio.run(abuse(host, int(port), api_pid(procs[1].pid), args))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        report(figures)


if __name__ == "__main__":
    main()
