"""A small HTTP/1.1 client on asyncio streams, so the load generator is not the bottleneck.

httpx's connection pool hands a burst of 500 requests out a few connections at a time, so a
"rush" of 500 reaches the server over seconds. Here each :class:`Connection` is one keep-alive
TCP connection: :meth:`Connection.write` puts a whole request on the wire with no await (a
burst over pre-opened connections leaves in one pass of the event loop), and
:meth:`Connection.read_answer` reads the status line, the headers and the body
(``Content-Length``, chunked, or up to the close). An answer with ``Connection: close`` (or
an HTTP/1.0 one without keep-alive) closes the connection; the next request opens a new one.
:class:`Pool` bounds the connections of a steady load; a request that fails on a *reused*
connection before its answer began (the server closed it while idle) is sent once more
on a new one. Every failure is an :class:`HttpError` whose ``kind`` is its cause.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

CRLF = b"\r\n"
#: What reading or writing a socket may raise (TimeoutError is an OSError).
ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)


@dataclass(frozen=True)
class Target:
    """Where requests go: ``http://host:port/path`` (no TLS)."""

    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str, *, endpoint: str = "") -> Target:
        """``url``'s host, port and path, with ``endpoint`` appended unless the path ends so."""
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"{url!r}: give an http://HOST[:PORT] URL")
        try:
            port = parts.port or 80
        except ValueError as exc:
            raise ValueError(f"{url!r}: {exc}") from None
        path = parts.path.rstrip("/")
        if endpoint and not path.endswith(endpoint):
            path += endpoint
        return cls(parts.hostname, port, (path or "/") + (f"?{parts.query}" if parts.query else ""))

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def post(self, body: bytes, content_type: str = "application/json") -> bytes:
        """The bytes of one ``POST`` of ``body`` (an empty body is sent as no body)."""
        head = [f"POST {self.path} HTTP/1.1", f"Host: {self.address}"]
        if body:
            head.append(f"Content-Type: {content_type}")
        head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case; a repeated header's values joined by ", "
    body: bytes
    keep_alive: bool


class HttpError(Exception):
    """No usable answer. ``kind``: timeout, connection refused, connection reset, connection
    closed, bad answer, or the operating system's reason; ``stale``: nothing of an answer
    came before the connection ended."""

    def __init__(self, kind: str, message: str, *, stale: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.stale = stale


def parse_head(head: bytes, where: str) -> tuple[int, dict[str, str], bool]:
    """Status, headers and keep-alive of an answer's head (status line and header lines)."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not (code.isascii() and code.isdigit()):
        raise HttpError("bad answer", f"{where}: bad status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError("bad answer", f"{where}: bad header line {line[:80]!r}")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep = "keep-alive" in tokens if version == "HTTP/1.0" else "close" not in tokens
    return int(code), headers, keep


class Connection:
    """One keep-alive HTTP/1.1 connection; :meth:`close` is idempotent."""

    def __init__(self, target: Target, timeout_s: float) -> None:
        self.target = target
        self.timeout_s = timeout_s
        self.answers = 0  # answers read on this TCP connection
        self._heard = False  # some of the current answer has come
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def open(self) -> None:
        if self.is_open:
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                self._reader, self._writer = await asyncio.open_connection(
                    self.target.host, self.target.port
                )
        except ERRORS as exc:
            raise self._failure(exc, "connecting") from exc
        self.answers = 0

    def write(self, request: bytes) -> None:
        """Put a whole request on the wire now (the connection must be open)."""
        if self._writer is None:
            raise HttpError("connection closed", f"{self.target.address}: not connected")
        self._writer.write(request)

    async def read_answer(self) -> Response:
        """The answer to the request written, within the time-out."""
        if self._reader is None:
            raise HttpError("connection closed", f"{self.target.address}: not connected")
        self._heard = False
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self._read(self._reader)
        except HttpError:
            self.abort()
            raise
        except ERRORS as exc:
            self.abort()
            raise self._failure(exc, "waiting for the answer") from exc
        except BaseException:  # cancelled: the answer may still come, on a connection not ours
            self.abort()
            raise
        self.answers += 1
        if not response.keep_alive:
            await self.close()
        return response

    async def send(self, request: bytes) -> Response:
        await self.open()
        self.write(request)
        return await self.read_answer()

    async def _read(self, reader: asyncio.StreamReader) -> Response:
        where = self.target.address
        while True:
            head = await reader.readuntil(CRLF + CRLF)
            self._heard = True
            status, headers, keep = parse_head(head, where)
            if not 100 <= status < 200:  # an interim answer (100 Continue) is skipped
                break
        if status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _chunked(reader, where)
        elif "content-length" in headers:
            length = headers["content-length"]
            if not (length.isascii() and length.isdigit()):
                raise HttpError("bad answer", f"{where}: Content-Length {length!r}")
            body = await reader.readexactly(int(length))
        else:
            body, keep = await reader.read(), False
        return Response(status, headers, body, keep)

    def _failure(self, exc: Exception, doing: str) -> HttpError:
        """The HttpError for what went wrong ``doing``."""
        where = f"{self.target.address}: {doing}"
        if isinstance(exc, TimeoutError):
            return HttpError("timeout", f"{where}: no progress within {self.timeout_s:g} s")
        stale = not self._heard  # the server cannot have answered: the request may go again
        if isinstance(exc, asyncio.IncompleteReadError):
            stale = stale and not exc.partial
            return HttpError("connection closed", f"{where}: closed by the server", stale=stale)
        if isinstance(exc, asyncio.LimitOverrunError):
            return HttpError("bad answer", f"{where}: answer head over the stream limit")
        if isinstance(exc, ConnectionRefusedError):
            return HttpError("connection refused", f"{where}: connection refused")
        if isinstance(exc, ConnectionResetError | BrokenPipeError):
            return HttpError("connection reset", f"{where}: connection reset", stale=stale)
        reason = (getattr(exc, "strerror", None) or type(exc).__name__).lower()
        return HttpError(reason, f"{where}: {reason}")

    def abort(self) -> None:
        """Drop the connection at once (after an error: its stream state is unknown)."""
        if self._writer is not None:
            self._writer.transport.abort()
        self._reader = self._writer = None

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _chunked(reader: asyncio.StreamReader, where: str) -> bytes:
    parts: list[bytes] = []
    while True:
        line = await reader.readuntil(CRLF)
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise HttpError("bad answer", f"{where}: bad chunk size {line[:20]!r}") from None
        if size == 0:
            while await reader.readuntil(CRLF) != CRLF:  # trailers
                pass
            return b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])


class Pool:
    """At most ``size`` connections to one target, reused; an async context manager."""

    def __init__(self, target: Target, size: int, timeout_s: float) -> None:
        if size < 1:
            raise ValueError(f"a pool of {size} connections: must be at least 1")
        self.target = target
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Connection] = []
        self._all: set[Connection] = set()

    async def send(self, request: bytes) -> Response:
        """One request and its answer, on an idle connection or a new one."""
        async with self._slots:
            conn = self._idle.pop() if self._idle else self._new()
            try:
                try:
                    response = await conn.send(request)
                except HttpError as exc:
                    if not (exc.stale and conn.answers):
                        raise
                    conn.abort()  # closed while idle: once more, on a new connection
                    response = await conn.send(request)
            except BaseException:
                self._all.discard(conn)
                conn.abort()
                raise
            self._idle.append(conn)
            return response

    def _new(self) -> Connection:
        conn = Connection(self.target, self.timeout_s)
        self._all.add(conn)
        return conn

    async def close(self) -> None:
        conns, self._all, self._idle = self._all, set(), []
        await asyncio.gather(*(conn.close() for conn in conns))

    async def __aenter__(self) -> Pool:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
