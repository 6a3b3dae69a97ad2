"""A network of Linux network namespaces for system tests: one namespace per node and a hub
that routes between them, so a test can cut the links between nodes while each node still
reaches the hub, where ``dgi simulate`` serves the devices.

Node ``n`` (the n-th of the list, from 1) has ``10.200.n.1/24`` on its veth to the hub, which
holds ``10.200.n.254`` on the other end and forwards between the subnets. A cut is a pair of
``ip rule ... blackhole`` in the hub: datagrams between the two nodes are dropped on the way,
silently, as a broken switch would (no ICMP back, no error at the sender), while traffic to
and from the hub's own addresses — the devices, the tests' HTTP requests — goes on.

Everything is created under names unique to this process and removed by :meth:`close`: the
processes started in the namespaces first (each by its own pid), then the namespaces, which
takes their veth pairs with them. The addresses are private to the namespaces, so tests that
run in parallel may share them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import ROOT

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")  # where `ip netns add` mounts its namespaces


def require_namespaces() -> str:
    """Path of ``ip``; skip without it or without root, or fail when DGI_REQUIRE_TOOLS=1 (CI),
    as ``tests.conftest.require_tool`` does for the other tools."""
    ip = shutil.which("ip")
    if ip is None:
        message = "ip is not installed (Debian package iproute2): the network namespaces need it"
    elif os.geteuid() != 0:
        message = "network namespaces need root (ip netns add): run the tests as root, as CI does"
    else:
        return ip
    if os.environ.get("DGI_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def enter(namespace: str) -> None:
    """Move the calling thread (only it) into the network namespace ``namespace``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_DIR / namespace, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into {namespace}: {os.strerror(errno)}")
    finally:
        os.close(fd)


class Inside:
    """An asyncio loop on a thread of this process that lives in a network namespace: every
    socket its coroutines open (httpx, Modbus clients) belongs to that namespace."""

    def __init__(self, namespace: str) -> None:
        self.loop = asyncio.new_event_loop()
        entered: concurrent.futures.Future[None] = concurrent.futures.Future()

        def main() -> None:
            try:
                enter(namespace)
            except BaseException as exc:
                entered.set_exception(exc)
                return
            asyncio.set_event_loop(self.loop)
            entered.set_result(None)
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, name=f"netns {namespace}", daemon=True)
        self.thread.start()
        try:
            entered.result(10)
        except BaseException:
            self.thread.join(5)
            self.loop.close()
            raise

    async def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 30) -> T:
        """Run ``coroutine`` on the namespace's loop; wait for it from the caller's loop."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout_s)
        except TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


class Network:
    """A hub namespace routing between one namespace per node; see the module's docstring."""

    def __init__(self, ip: str, nodes: Sequence[str]) -> None:
        self.ip = ip
        self.prefix = f"dgi-{os.getpid()}-{secrets.token_hex(3)}"
        self.hub = f"{self.prefix}-hub"
        self.namespaces = {node: f"{self.prefix}-{node}" for node in nodes}
        self.number = {node: i for i, node in enumerate(nodes, start=1)}
        self.created: list[str] = []
        self.started: list[subprocess.Popen[bytes]] = []
        self.cuts: set[frozenset[str]] = set()
        self._inside: Inside | None = None

    def address(self, node: str) -> str:
        """The node's address in its namespace."""
        return f"10.200.{self.number[node]}.1"

    def hub_address(self, node: str) -> str:
        """The hub's address on the node's link (direct: never forwarded, never cut)."""
        return f"10.200.{self.number[node]}.254"

    def _ip(self, *args: str) -> None:
        result = subprocess.run([self.ip, *args], capture_output=True, text=True, timeout=10)
        if result.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")

    def create(self) -> None:
        for namespace in (self.hub, *self.namespaces.values()):
            self._ip("netns", "add", namespace)
            self.created.append(namespace)
            self._ip("-n", namespace, "link", "set", "lo", "up")
        for node, namespace in self.namespaces.items():
            # interface names are per namespace: created in place, none appears in the host's
            link = f"veth{self.number[node]}"
            self._ip("-n", self.hub, "link", "add", link, "type", "veth",
                     "peer", "name", "hub0", "netns", namespace)  # fmt: skip
            self._ip("-n", self.hub, "address", "add", f"{self.hub_address(node)}/24", "dev", link)
            self._ip("-n", self.hub, "link", "set", link, "up")
            self._ip("-n", namespace, "address", "add", f"{self.address(node)}/24", "dev", "hub0")
            self._ip("-n", namespace, "link", "set", "hub0", "up")
            self._ip("-n", namespace, "route", "add", "default", "via", self.hub_address(node))
        self._ip("netns", "exec", self.hub, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")

    def _rules(self, verb: str, a: str, b: str) -> None:
        for source, target in ((a, b), (b, a)):
            self._ip("-n", self.hub, "rule", verb, "from", self.address(source),
                     "to", self.address(target), "blackhole")  # fmt: skip

    def cut(self, a: str, b: str) -> None:
        """Lose every datagram between ``a`` and ``b``, both ways."""
        self._rules("add", a, b)
        self.cuts.add(frozenset((a, b)))

    def heal(self, a: str, b: str) -> None:
        self._rules("del", a, b)
        self.cuts.discard(frozenset((a, b)))

    def spawn(self, where: str, log: Path, *command: str) -> subprocess.Popen[bytes]:
        """Start ``command`` in a node's namespace (or ``hub``), from the repository root.

        ``ip netns exec`` execs the command in its own process: the pid is the command's.
        """
        namespace = self.hub if where == "hub" else self.namespaces[where]
        with log.open("ab") as out:
            process = subprocess.Popen(
                [self.ip, "netns", "exec", namespace, *command],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append(process)
        return process

    def run(
        self, where: str, *command: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        namespace = self.hub if where == "hub" else self.namespaces[where]
        return subprocess.run(
            [self.ip, "netns", "exec", namespace, *command],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def inside_hub(self) -> Inside:
        """An event loop whose sockets are the hub's (it reaches every node and device)."""
        if self._inside is None:
            self._inside = Inside(self.hub)
        return self._inside

    def _pids(self, namespace: str) -> list[int]:
        result = subprocess.run([self.ip, "netns", "pids", namespace],
                                capture_output=True, text=True, timeout=10)  # fmt: skip
        return [int(pid) for pid in result.stdout.split()]

    def _empty(self, namespace: str) -> None:
        """Wait for what our processes left in ``namespace`` (a node's API child ends with its
        node, a moment later); KILL each one, by its pid, that is still there after 5 s."""
        deadline = time.monotonic() + 5
        while (pids := self._pids(namespace)) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        """Stop every process started here (TERM, then KILL, each by its pid), then remove the
        namespaces and with them their links; raise if one of them remains."""
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._inside is not None:
            self._inside.close()
        for namespace in self.created:
            self._empty(namespace)
        errors = []
        for namespace in reversed(self.created):
            try:
                self._ip("netns", "delete", namespace)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                errors.append(str(exc))
        left = [n for n in self.created if (NETNS_DIR / n).exists()]
        assert not errors, f"namespaces not removed: {errors}"
        assert not left, f"namespaces not removed: {left}"
