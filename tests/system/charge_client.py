"""A minimal HTTP/1.1 client for the system tests of EV charging: one connection per request,
all opened before a burst is released, so the client never serialises a rush (httpx's pool
does)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    latency_s: float


async def connect(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, _, port = address.rpartition(":")
    return await asyncio.open_connection(host, int(port))


async def request(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    reader, writer = conn
    payload = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    head = [f"{method} {path} HTTP/1.1", "Host: test", f"Content-Length: {len(payload)}"]
    if payload and not any(k.lower() == "content-type" for k in (headers or {})):
        head.append("Content-Type: application/json")
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    started = time.perf_counter()
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    got: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        key, _, value = line.decode().partition(":")
        got[key.strip().lower()] = value.strip()
    data = await reader.readexactly(int(got.get("content-length", "0")))
    latency = time.perf_counter() - started
    is_json = got.get("content-type", "").startswith("application/json")
    decoded = json.loads(data) if data and is_json else data.decode()
    return Answer(status, got, decoded, latency)


async def one(address: str, method: str, path: str, body: Any = None, **kw: Any) -> Answer:
    conn = await connect(address)
    try:
        return await request(conn, method, path, body, **kw)
    finally:
        conn[1].close()


async def burst(address: str, bodies: list[Any], path: str = "/charge") -> list[Answer]:
    """Every body POSTed at once, each on its own connection opened beforehand."""
    conns = await asyncio.gather(*(connect(address) for _ in bodies))
    try:
        return list(
            await asyncio.gather(
                *(request(c, "POST", path, b) for c, b in zip(conns, bodies, strict=True))
            )
        )
    finally:
        for _, writer in conns:
            writer.close()


def most_minus_least_active(answers: list[Answer], substations: list[str]) -> int:
    """The largest difference, at any instant, between the busiest and the idlest substation
    in active sessions (from the booked answers' start and expected end)."""
    events: list[tuple[float, int, str]] = []
    for a in answers:
        if a.status == 201:
            events.append((a.body["started"], 1, a.body["substation"]))
            events.append((a.body["expected_end"], -1, a.body["substation"]))
    events.sort(key=lambda e: (e[0], e[1]))  # ends before starts at the same instant
    active = dict.fromkeys(substations, 0)
    worst = 0
    for _, change, node in events:
        active[node] += change
        worst = max(worst, max(active.values()) - min(active.values()))
    return worst
