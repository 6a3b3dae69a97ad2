"""The API's write guard: a request body is judged before anyone reads it.

A write (``WRITE_PATHS``, ``WRITE_PREFIXES``) is refused without the token (401/403), and a
write or a charging request (``PUBLIC_PATHS``: open to all) with a body that is not JSON (415)
or larger than ``MAX_BODY_BYTES`` (413) — the body then never reaches the app. The
refusal must reach the client whole, so the connection is not closed on the unread body (the
kernel would reset it, and a reset can destroy the answer before the client reads it): a body
declared no larger than a write may be is dropped by the server as it arrives, and the
connection stays open; a larger one, or one of unknown length, ends the connection
(``Connection: close``) once the server has dropped a bounded amount of it
(:class:`controller.api.server.GuardedH11`). A flood of large unauthenticated uploads costs
the API process little. Plain ASGI: no framework here.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

Json = dict[str, Any]
TokenSource = Callable[[], tuple[str | None, str]]  # (the token or None, why writes are off)
#: A path answered here, from its body alone, past the framework: (status, JSON, headers).
FastHandler = Callable[[bytes], Awaitable[tuple[int, Json, dict[str, str]]]]
Receive = Callable[[], Awaitable[Json]]
Send = Callable[[Json], Awaitable[None]]

MAX_BODY_BYTES = 16 * 1024
WRITE_PATHS = frozenset({"/api/v1/control"})  # need the token
WRITE_PREFIXES = ("/api/v1/sessions/",)  # DELETE /api/v1/sessions/{id}: needs the token
#: Open to every client (a charging request), but their bodies are judged like a write's.
PUBLIC_PATHS = frozenset({"/api/v1/charge", "/charge"})


def guarded(path: str) -> bool:
    """Whether a request to ``path`` (other than GET/HEAD/OPTIONS) has its body judged."""
    return path in WRITE_PATHS or path in PUBLIC_PATHS or path.startswith(WRITE_PREFIXES)


def token_refusal(
    token: str | None, token_problem: str, given: str | None
) -> tuple[int, str] | None:
    """(status, reason) when a write must be refused, else None."""
    if token is None:
        return 403, token_problem
    if given is None:
        return 401, "writes need 'Authorization: Bearer <token>'"
    if not hmac.compare_digest(given.encode(), token.encode()):
        return 403, "wrong token"
    return None


class BodyGuard:
    """ASGI middleware: judge a write before anyone reads its body.

    A write (``WRITE_PATHS``, any method but GET/HEAD/OPTIONS) needs the bearer token, and
    its body must be ``application/json`` and at most ``MAX_BODY_BYTES`` (read into memory
    only up to that, then replayed to the app). A refusal answers at once, before the body is
    read, and keeps the connection only when the rest of the body is small (:func:`droppable`).
    No other path reads a body. A path in ``fast`` (a charging request: hundreds may arrive
    at once) is answered here from its body, past the framework's routing.
    """

    def __init__(
        self,
        app: Callable[..., Awaitable[None]],
        *,
        tokens: TokenSource,
        fast: dict[str, FastHandler] | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.fast = fast or {}

    async def __call__(self, scope: Json, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not guarded(scope["path"]):
            # nothing else reads a body: uvicorn stops reading from the socket at 64 KiB
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)  # 405 from the app, the body unread
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope["path"], headers)
        if refusal is not None:
            await _refuse(send, *refusal, close=not droppable(headers))
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY_BYTES:
                await _refuse(send, 413, f"body larger than {MAX_BODY_BYTES} bytes", close=True)
                return
            if not message.get("more_body", False):
                break
        handler = self.fast.get(scope["path"]) if scope["method"] == "POST" else None
        if handler is not None:
            status, answer, extra = await handler(bytes(body))
            await _respond(send, status, answer, extra)
            return
        replayed = False

        async def replay() -> Json:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    def _refusal(self, path: str, headers: dict[str, str]) -> tuple[int, str] | None:
        if path not in PUBLIC_PATHS:
            given = headers.get("authorization", "")
            scheme, _, credentials = given.partition(" ")
            supplied = credentials.strip() if scheme.lower() == "bearer" and credentials else None
            refusal = token_refusal(*self.tokens(), supplied)
            if refusal is not None:
                return refusal
        length = headers.get("content-length")
        if length is not None and not (length.isascii() and length.isdigit()):
            return 400, "Content-Length must be a number of bytes"
        if length is not None and int(length) > MAX_BODY_BYTES:
            return 413, f"body larger than {MAX_BODY_BYTES} bytes"
        has_body = length not in (None, "0") or "transfer-encoding" in headers
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if has_body and kind != "application/json":
            shown = kind or "no content type"
            return 415, f"the body must be application/json, not {shown}"
        return None


def droppable(headers: dict[str, str]) -> bool:
    """Whether the body of a refused request may be left to the server to read and drop,
    keeping the connection: it is declared (Content-Length) no larger than ``MAX_BODY_BYTES``
    — no chunked body of unknown length — and the client is not waiting for
    ``100 Continue`` before it sends it."""
    if "transfer-encoding" in headers or "expect" in headers:
        return False
    length = headers.get("content-length", "0")
    return length.isascii() and length.isdigit() and int(length) <= MAX_BODY_BYTES


async def _refuse(send: Send, status: int, text: str, *, close: bool) -> None:
    extra = {"connection": "close"} if close else {}
    if status == 401:
        extra["www-authenticate"] = "Bearer"
    await _respond(send, status, {"error": text}, extra)


async def _respond(send: Send, status: int, answer: Json, extra: dict[str, str]) -> None:
    body = json.dumps(answer, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
