"""The FastAPI app: routers, OpenAI-style errors, API-key auth, body limit and request metrics.

Auth, the body limit and metrics are plain ASGI middleware so they also wrap streaming responses
(the latency of a stream is measured to its last byte).
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.server.config import ServerConfig
from agent.server.errors import APIError, too_large
from agent.server.metrics import ServerMetrics
from agent.server.routers import chat, completions, facts, health, models
from agent.server.serving import ServingEngine

_OPEN_PATHS = ("/health", "/metrics")  # as in vLLM: the key guards the API, not liveness probes


async def _send_error(send: Send, error: APIError) -> None:
    body = json.dumps(error.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers.items()
    ]
    if error.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


class GuardMiddleware:
    """Bearer API key (when configured) and the request body size limit."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.api_key and not scope["path"].startswith(_OPEN_PATHS) and not self._authorized(scope):
            await _send_error(
                send,
                APIError(
                    401,
                    "missing or invalid API key (Authorization: Bearer KEY)",
                    type="authentication_error",
                    code="invalid_api_key",
                ),
            )
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _send_error(send, self._too_large())
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_error(send, self._too_large())

    def _too_large(self) -> APIError:
        return too_large(f"request body over this server's limit of {self.max_body_bytes} bytes")

    def _authorized(self, scope: Scope) -> bool:
        """Compared as bytes: a header that is not ASCII, or not `Bearer KEY` at all, is simply wrong
        (401), never an error of the comparison (hmac refuses non-ASCII str)."""
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, token = header.partition(b" ")
        expected = (self.api_key or "").encode("utf-8")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), expected)


class MetricsMiddleware:
    """Counts requests by route template and status, and times them to the last byte sent."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(endpoint=endpoint, method=scope["method"], status=str(status)).inc()
            self.metrics.latency.labels(endpoint=endpoint).observe(time.perf_counter() - start)


def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    first = problems[0] if problems else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    message = "; ".join(
        f"{'.'.join(str(p) for p in problem.get('loc', ()) if p != 'body') or 'body'}: {problem.get('msg')}"
        for problem in problems[:5]
    )
    api_error = APIError(
        400, message or "malformed request", param=".".join(location) or None, code="invalid_request"
    )
    return JSONResponse(api_error.body(), status_code=400)


def _api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, APIError)
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers or None)


def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
    api_error = APIError(error.status_code, str(error.detail), type=kind)
    return JSONResponse(api_error.body(), status_code=error.status_code, headers=error.headers)


def _internal_error(_: Request, error: Exception) -> JSONResponse:
    api_error = APIError(500, f"internal error: {type(error).__name__}: {error}", type="server_error")
    return JSONResponse(api_error.body(), status_code=500)


def create_app(config: ServerConfig, engine: ServingEngine | None = None) -> FastAPI:
    """Build the app; the engine loads the model and memory at startup, before serving requests."""
    engine = engine or ServingEngine(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(engine.start)
        try:
            yield
        finally:
            engine.close()

    app = FastAPI(title="hopedit", version="0.1.0", lifespan=lifespan)
    app.state.engine = engine
    for module in (models, chat, completions, facts, health):
        app.include_router(module.router)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(GuardMiddleware, api_key=config.api_key, max_body_bytes=config.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=engine.metrics)
    return app
