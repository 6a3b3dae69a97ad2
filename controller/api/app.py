"""The status API of a node (FastAPI lives here and nowhere else).

Reads are open; writes need ``Authorization: Bearer <token>`` with the token from the site's
``api_token_file``. The app serves the node's latest snapshot (see
:mod:`controller.node.snapshot`), which an :class:`ApiState` holds; it never calls into the
control loop except for a write, which travels to the node and back.

A write's body is judged before anyone reads it (:mod:`controller.api.guard`): refused
without the token (401/403), with a body that is not JSON (415) or too large (413), it never
reaches the app. Every status an endpoint can answer is in the
OpenAPI document, and every error is JSON ``{"error": ...}`` naming the field or the cause.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from pydantic import TypeAdapter
from starlette.exceptions import HTTPException as StarletteHTTPException

from config.device_types import device_types
from controller.api import models as m
from controller.api.guard import (
    MAX_BODY_BYTES,
    PUBLIC_PATHS,
    BodyGuard,
    TokenSource,
    token_refusal,
)
from controller.api.metrics import Registry, SnapshotCollector, exposition
from controller.api.readiness import readiness
from controller.ev.rules import Defaults, request_schema

Json = dict[str, Any]
API_VERSION = "1.1.0"
HISTORY_S = 300.0  # round events kept for /api/v1/history
ASSETS = "/docs-assets"  # Swagger UI, served by the node
MAX_SUBSCRIBERS = 32  # concurrent /api/v1/events streams
# Module level: with postponed annotations FastAPI resolves these names in module globals.
BEARER = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
Responses = dict[int | str, dict[str, Any]]


class ApiState:
    """The latest snapshot, the event subscribers, and the way back to the node for writes."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.snapshot: m.Snapshot | None = None
        self.subscribers: set[asyncio.Queue[Json]] = set()
        self.send: Callable[[Json], None] | None = None
        self.pending: dict[int, asyncio.Future[Json]] = {}
        self._ids = itertools.count(1)
        self.dropped_events = 0
        self.history: collections.deque[Json] = collections.deque()

    def event(self, event: Json) -> None:
        if event["event"] == "round":
            self.history.append(event["data"])
            while self.history and self.history[0]["time"] < event["data"]["time"] - HISTORY_S:
                self.history.popleft()
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.dropped_events += 1  # a slow client loses events, never the node

    async def write(self, action: str, args: Json, timeout_s: float = 6.0) -> Json:
        if self.send is None:
            raise HTTPException(503, "the node is not connected")
        request_id = next(self._ids)
        future: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        self.send({"type": "write", "id": request_id, "action": action, "args": args})
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise HTTPException(504, f"the node did not answer within {timeout_s:g} s") from None
        finally:
            self.pending.pop(request_id, None)

    def reply(self, message: Json) -> None:
        future = self.pending.get(int(message["id"]))
        if future is not None and not future.done():
            future.set_result(message)


def fixed_token(
    token: str | None, problem: str = "writes are disabled: no token file"
) -> TokenSource:
    """A token source that never changes (tests, the OpenAPI document)."""
    return lambda: (token, problem)


def create_app(
    state: ApiState,
    *,
    registry: Registry,
    tokens: TokenSource,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The app for one node; ``registry`` receives the node's metrics collector; ``tokens``
    says, when a write arrives, the token it needs (or None, and why writes are disabled)."""
    app = FastAPI(
        title="smartgrid-dgi node API",
        version=API_VERSION,
        description="Status, devices, peers, events and metrics of one controller node.",
        docs_url=None,  # served below from local assets: no CDN, so they work offline
        redoc_url=None,
    )
    _offline_docs(app)
    app.add_middleware(
        BodyGuard,
        tokens=tokens,
        fast={path: functools.partial(charge_reply, state) for path in PUBLIC_PATHS},
    )
    registry.register(
        SnapshotCollector(lambda: state.snapshot, lambda: not readiness(state.snapshot, clock()))
    )
    page_html = (
        resources.files("controller.api").joinpath("web/index.html").read_text(encoding="utf-8")
    )

    def current() -> m.Snapshot:
        if state.snapshot is None:
            raise HTTPException(503, "no snapshot from the node yet")
        return state.snapshot

    responses: dict[str, tuple[m.Snapshot, bytes]] = {}
    invalid: Responses = {
        422: {"model": m.Invalid, "description": "a parameter or the body is invalid"}
    }

    def cached(key: str, adapter: TypeAdapter[Any], part: Callable[[m.Snapshot], Any]) -> Response:
        """Serialise a part of the snapshot once per snapshot, not per request."""
        snapshot = current()
        entry = responses.get(key)
        if entry is None or entry[0] is not snapshot:
            entry = (snapshot, adapter.dump_json(part(snapshot)))
            responses[key] = entry
        return Response(entry[1], media_type="application/json")

    async def authorised(credentials: Credentials) -> None:
        """Documents the bearer scheme; the body guard already checked the token."""
        problem = token_refusal(*tokens(), credentials.credentials if credentials else None)
        if problem is not None:
            status, text = problem
            raise HTTPException(status, text, _auth_headers(status))

    _errors(app)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> str:
        return page_html

    unready: Responses = {503: {"model": m.Error, "description": "no snapshot from the node yet"}}

    @app.get("/healthz", response_model=m.Health, tags=["health"])
    async def healthz() -> Json:
        """The API process is alive (it exits when its node does)."""
        return {"status": "ok", "node": state.node_id}

    @app.get(
        "/readyz",
        response_model=m.Readiness,
        responses={503: {"model": m.Readiness}},
        tags=["health"],
    )
    async def readyz() -> Response:
        """200 when every device is fresh and LB rounds run on time; else 503 with the reasons."""
        reasons = readiness(state.snapshot, clock())
        return JSONResponse(
            {"ready": not reasons, "reasons": reasons}, status_code=503 if reasons else 200
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = exposition(registry)
        return Response(body, media_type=content_type)

    @app.get("/api/v1/status", response_model=m.Status, tags=["status"], responses=unready)
    async def status() -> Response:
        return cached("status", STATUS, lambda s: s.status())

    @app.get("/api/v1/ledger", response_model=m.Ledger, tags=["status"], responses=unready)
    async def ledger() -> Response:
        """Every change of the node's command (migrations, adjustments) and what the device
        acknowledged: ``command = initial + migrated + adjusted``."""
        return cached("ledger", LEDGER, lambda s: s.ledger)

    @app.get(
        "/api/v1/load-table",
        response_model=m.LoadTable,
        tags=["status"],
        responses={
            200: {
                "description": "the table as JSON, or with format=text as FREEDM prints it",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            },
            **unready,
            **invalid,
        },
    )
    async def load_table(
        format: Annotated[
            Literal["json", "text"], Query(description="json, or text as FREEDM prints it")
        ] = "json",
    ) -> Any:
        if format == "text":
            return PlainTextResponse(current().load_table.text + "\n")
        return cached("load-table", LOAD_TABLE, lambda s: s.load_table)

    @app.get(
        "/api/v1/devices",
        response_model=list[m.Device],
        tags=["status"],
        responses={**unready, **invalid},
    )
    async def devices(
        type: Annotated[
            DeviceTypeName | None, Query(description="only devices of this type (Sst, Desd, ...)")
        ] = None,
    ) -> Response:
        return cached(
            f"devices:{type}",
            DEVICES,
            lambda s: [d for d in s.devices if type in (None, d.type)],
        )

    @app.get("/api/v1/peers", response_model=list[m.Peer], tags=["status"], responses=unready)
    async def peers() -> Response:
        return cached("peers", PEERS, lambda s: s.peers)

    @app.get(
        "/api/v1/history", response_model=list[m.RoundEvent], tags=["status"], responses=invalid
    )
    async def history(
        seconds: Annotated[
            float, Query(gt=0, le=HISTORY_S, description="how far back")
        ] = HISTORY_S,
    ) -> list[Json]:
        """The round events of the last ``seconds`` (what the live page draws on opening)."""
        since = clock() - seconds
        return [event for event in state.history if event["time"] >= since]

    async def stream_slot() -> None:
        if len(state.subscribers) >= MAX_SUBSCRIBERS:
            raise HTTPException(
                503, f"{MAX_SUBSCRIBERS} event streams are open already", {"Retry-After": "5"}
            )

    @app.get(
        "/api/v1/events",
        response_class=EventSourceResponse,
        tags=["status"],
        dependencies=[Depends(stream_slot)],
        responses={503: {"model": m.Error, "description": "too many streams open"}},
    )
    async def events(request: Request) -> AsyncIterator[ServerSentEvent]:
        """Server-sent events: ``round`` each LB round; ``migration``, ``state`` and ``gm``
        (a group change, with its reason) as they come.
        At most ``MAX_SUBSCRIBERS`` streams at once; beyond, 503 with Retry-After."""
        queue: asyncio.Queue[Json] = asyncio.Queue(maxsize=256)
        state.subscribers.add(queue)
        try:
            for n in itertools.count(1):
                event = await queue.get()
                yield ServerSentEvent(data=event["data"], event=event["event"], id=str(n))
        finally:
            state.subscribers.discard(queue)

    @app.put(
        "/api/v1/control",
        response_model=m.Control,
        tags=["control"],
        dependencies=[Depends(authorised)],
        responses={
            **{code: {"model": m.Error, "description": why} for code, why in WRITE_ERRORS.items()},
            **invalid,
        },
    )
    async def control(body: m.Control) -> Json:
        """Enable or disable the node (disabled: it holds its gateway, like dgiEnable = 0)."""
        reply = await state.write("control", body.model_dump())
        if reply["status"] != 200:
            raise HTTPException(reply["status"], reply["body"].get("error", "refused"))
        return dict(reply["body"])

    _charging(app, state, authorised)
    return app


def _relay(reply: Json) -> JSONResponse:
    """The node's answer as the response: its status, body and headers."""
    return JSONResponse(reply["body"], status_code=reply["status"], headers=reply.get("headers"))


async def charge_reply(state: ApiState, raw: bytes) -> tuple[int, Json, dict[str, str]]:
    """The answer to a charging request's body: the node's, or 422 for a body that is not a
    JSON object. The one implementation, behind the route and behind the body guard's fast
    path (:class:`controller.api.guard.BodyGuard`)."""
    body: Any = None
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return 422, {"error": f"body: not JSON ({exc})", "field": "body"}, {}
        if not isinstance(body, dict):
            return 422, {"error": "body: a JSON object", "field": "body"}, {}
    try:
        reply = await state.write("charge", {"body": body})
    except HTTPException as exc:
        return exc.status_code, {"error": exc.detail}, dict(exc.headers or {})
    return reply["status"], reply["body"], reply.get("headers") or {}


def _charging(app: FastAPI, state: ApiState, authorised: Callable[..., Any]) -> None:
    """``POST /api/v1/charge`` (and ``POST /charge``), the sessions of this substation."""
    answers: Responses = {
        201: {"model": m.ChargeBooked, "description": "booked (again, for a known ev_id)"},
        400: {"model": m.Error, "description": "the body or its Content-Length cannot be parsed"},
        413: {"model": m.Error, "description": f"body larger than {MAX_BODY_BYTES} bytes"},
        415: {"model": m.Error, "description": "body is not application/json"},
        422: {"model": m.ChargeInvalid, "description": "a field is invalid: it is named"},
        503: {
            "model": m.ChargeFull,
            "description": "no substation can take it now (Retry-After)",
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        },
        504: {"model": m.Error, "description": "the node did not answer in time"},
    }
    body_schema = {
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": request_schema(Defaults())}},
        }
    }

    async def charge(request: Request) -> Response:
        """Book a charging session at the substation of the group with the most headroom.
        Every field is optional; an empty body (or none) takes the site's defaults."""
        status, body, headers = await charge_reply(state, await request.body())
        return JSONResponse(body, status, headers)

    for path, shown in (("/api/v1/charge", True), ("/charge", False)):
        app.add_api_route(
            path,
            charge,
            methods=["POST"],
            status_code=201,
            response_model=m.ChargeBooked,
            responses=answers,
            tags=["ev"],
            openapi_extra=body_schema,
            include_in_schema=shown,
            summary="Request a charging session" + ("" if shown else " (original service)"),
        )

    slow: Responses = {504: {"model": m.Error, "description": "the node did not answer"}}

    @app.get("/api/v1/sessions", response_model=m.Sessions, tags=["ev"], responses=slow)
    async def sessions() -> Response:
        """The charging sessions booked at this substation, oldest first."""
        return _relay(await state.write("sessions", {}))

    @app.delete(
        "/api/v1/sessions/{session_id}",
        response_model=m.SessionEnded,
        tags=["ev"],
        dependencies=[Depends(authorised)],
        responses={
            404: {"model": m.Error, "description": "no such session at this substation"},
            **{c: {"model": m.Error, "description": w} for c, w in WRITE_ERRORS.items()},
        },
    )
    async def end_session(session_id: str) -> Response:
        """End a session early: its power is free at once."""
        return _relay(await state.write("end_session", {"session_id": session_id}))


WRITE_ERRORS = {
    400: "the body or its Content-Length cannot be parsed",
    401: "no 'Authorization: Bearer <token>'",
    403: "wrong token, or writes are disabled (no token file)",
    413: f"body larger than {MAX_BODY_BYTES} bytes",
    415: "body is not application/json",
    503: "the node is not connected",
    504: "the node did not answer in time",
}
#: The device types, as the ``type`` query parameter's enumeration (in the OpenAPI document).
if TYPE_CHECKING:
    DeviceTypeName = str
else:
    DeviceTypeName = Literal[tuple(sorted(device_types()))]
STATUS: TypeAdapter[m.Status] = TypeAdapter(m.Status)
LEDGER: TypeAdapter[m.Ledger] = TypeAdapter(m.Ledger)
LOAD_TABLE: TypeAdapter[m.LoadTable] = TypeAdapter(m.LoadTable)
PEERS: TypeAdapter[list[m.Peer]] = TypeAdapter(list[m.Peer])
DEVICES: TypeAdapter[list[m.Device]] = TypeAdapter(list[m.Device])


def _offline_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) with its scripts and styles served by the node itself, from the
    installed ``fastapi_offline`` package: nothing is fetched from outside. No ReDoc: its page
    loads its logo from redoc.ly, whatever it is given."""
    assets = resources.files("fastapi_offline").joinpath("static")
    app.mount(ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} — Swagger UI",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no call to swagger.io's validator
        )


def _errors(app: FastAPI) -> None:
    """Every error is JSON with an ``error`` text naming the field or the cause."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            problems.append(f"{where}: {error['msg']}")
        return JSONResponse(
            {"error": "; ".join(problems), "details": jsonable(exc.errors())}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if exc.status_code != 404 else f"no such path: {request.url.path}"
        return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)


def jsonable(errors: Any) -> Any:
    """Validation error details as JSON: no exception objects (``ctx``), and an ``input``
    that was raw bytes (a body that is not JSON) shown as text."""
    out = []
    for error in errors:
        clean = {k: v for k, v in error.items() if k != "ctx"}
        clean["loc"] = list(clean["loc"])
        if isinstance(clean.get("input"), (bytes, bytearray)):
            clean["input"] = bytes(clean["input"][:200]).decode("utf-8", "replace")
        out.append(clean)
    return out


def _auth_headers(status: int) -> dict[str, str] | None:
    return {"WWW-Authenticate": "Bearer"} if status == 401 else None
