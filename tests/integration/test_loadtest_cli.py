"""``dgi loadtest`` as a process against a charge stub on 127.0.0.1 (port 0) that answers as
the EV contract does: 201s over three substations, 503s with Retry-After, a 422."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.charge_stub import ChargeStub, ContractPolicy
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(60)
DGI = [sys.executable, "-m", "controller"]


async def loadtest(*args: str) -> tuple[int, str, str]:
    """Run ``dgi loadtest ARGS`` while this event loop serves the stub; status and output."""
    proc = await asyncio.create_subprocess_exec(
        *DGI, "loadtest", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 45)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_rush_reports_the_balance_the_refusals_and_the_failure(tmp_path: Path) -> None:
    policy = ContractPolicy(full_every=10, invalid=frozenset({5}))
    plot = tmp_path / "active.png"
    async with ChargeStub(policy) as stub:
        status, out, err = await loadtest(
            "--url", f"http://127.0.0.1:{stub.port}", "--mode", "rush", "--requests", "40",
            "--duration-s", "60", "--json", "--plot", str(plot),
        )  # fmt: skip
    assert status == 1, err  # the 422 failed
    report: dict[str, Any] = json.loads(out)
    assert report["mode"] == "rush"
    assert report["url"] == f"http://127.0.0.1:{stub.port}/charge"
    assert (report["requests"], report["answered"], report["booked"]) == (40, 40, 35)
    assert (report["full"], report["failed"]) == (4, 1)
    assert report["statuses"] == {"422": 1, "503": 4}
    assert report["errors"] == {}
    assert report["retry_after_s"] == [2.0]
    assert report["per_substation"] == {"sst1": 12, "sst2": 12, "sst3": 11}
    assert report["peak_active"] == {"sst1": 12, "sst2": 12, "sst3": 11}
    assert report["max_spread"] == 1
    assert set(report["latency_ms"]) == {"p50", "p95", "p99", "max"}
    assert report["released_ms"] < 1000
    assert report["exit_status"] == 1
    assert stub.connections >= 40  # one per request, and the 503s closed theirs
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot.stat().st_size > 5000


async def test_spaced_prints_its_summary_and_exits_3_when_only_refused() -> None:
    async with ChargeStub(ContractPolicy(full_every=3)) as stub:
        status, out, err = await loadtest(
            "--url", f"http://127.0.0.1:{stub.port}/charge", "--requests", "9",
            "--gap", "0", "0.02", "--seed", "4", "--power-kw", "11",
        )  # fmt: skip
    assert status == 3, err
    lines = out.splitlines()
    assert lines[0] == f"spaced: 9 requests to http://127.0.0.1:{stub.port}/charge (seed 4)"
    assert "booked 6 · full (503) 3, Retry-After 2 s · failed 0" in lines
    assert any(line.startswith("latency ms   p50 ") and " p99 " in line for line in lines)
    table = lines[lines.index("substation        booked  peak active") + 1 :]
    assert table[:3] == [
        "sst1                   2            2",
        "sst2                   2            2",
        "sst3                   2            2",
    ]
    assert table[3] == "max − min active sessions over 3 substation(s), at any instant: 1"


async def test_sustained_all_booked_exits_0_and_counts_a_named_idle_substation() -> None:
    async with ChargeStub(ContractPolicy(substations=("sst1",))) as stub:
        status, out, err = await loadtest(
            "--url", f"http://127.0.0.1:{stub.port}", "--mode", "sustained", "--rate", "200",
            "--duration", "0.5", "--substations", "sst1,sst2", "--json",
        )  # fmt: skip
    assert status == 0, err
    report = json.loads(out)
    assert (report["requests"], report["booked"], report["failed"]) == (100, 100, 0)
    assert report["offered_per_s"] == 200
    assert report["peak_active"] == {"sst1": 100, "sst2": 0}
    assert report["max_spread"] == 100  # all herded onto one: the idle one counts


async def test_no_server_is_a_transport_failure_named_in_the_output() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    status, out, _ = await loadtest(
        "--url", f"http://127.0.0.1:{port}", "--mode", "rush", "--requests", "3"
    )
    assert status == 1
    assert "failed 3" in out
    assert f"connection refused: 3 (127.0.0.1:{port}: connecting: connection refused)" in out
    assert "no session booked" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "https://127.0.0.1:1"], "--url 'https://127.0.0.1:1': give an http://HOST"),
        (
            ["--url", "http://127.0.0.1:1", "--mode", "storm"],
            "--mode storm: one of spaced, rush, sustained",
        ),
        (
            ["--url", "http://127.0.0.1:1", "--mode", "sustained", "--requests", "5"],
            "--requests: sustained sends",
        ),
        (["--url", "http://127.0.0.1:1", "--gap", "1", "0"], "--gap 1 0: MIN and MAX"),
        (["--url", "http://127.0.0.1:1", "--timeout", "0"], "--timeout 0: must be more than 0 s"),
    ],
    ids=["https", "mode", "sustained-requests", "gap", "timeout"],
)
async def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    status, _, err = await loadtest(*args)
    assert status == 2
    assert message in " ".join(err.split()), err
