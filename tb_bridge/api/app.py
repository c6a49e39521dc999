"""The HTTP API's FastAPI application: :func:`create_app` over a running :class:`tb_bridge.service.Service`.

Every route but ``/health`` and ``/version`` needs an API key (``X-API-Key: <key>`` or ``Authorization:
Bearer <key>``, :mod:`tb_bridge.api.security`) and is rate-limited per client (429 with ``Retry-After``).
Bodies are validated by the pydantic models of :mod:`tb_bridge.api.models` (422 naming the field); an unknown
well is 404, a well whose configuration is invalid or a tier already running 409; a body over
``api.max_body_bytes`` 413, a streamed body without a length 411; the telemetry buffer unreachable 503.
``POST /train-lstm-ae`` starts a background training run of the wells' LSTM autoencoders (501 without PyTorch)."""
from __future__ import annotations

import importlib.metadata
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from tb_bridge.api import alarms, analytics, field, simulation, wells
from tb_bridge.api.context import ApiContext
from tb_bridge.api.metrics import RequestMetrics, ServiceCollector
from tb_bridge.api.models import ErrorAnswer, Health, Version
from tb_bridge.api.security import ApiKeys, RateLimited, RateLimiter, Unauthorized
from tb_bridge.buffer.base import BufferUnavailableError
from tb_bridge.config import Settings

API_VERSION = "1"
_ERRORS = {code: {"model": ErrorAnswer} for code in (401, 404, 409, 422, 429)}


def _version() -> str:
    try:
        return importlib.metadata.version("atilax")
    except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"


class BodyLimit:
    """Pure ASGI middleware: a body announced over ``max_bytes`` is answered 413, a streamed body (no
    Content-Length) 411, before the application reads any of it."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, int(max_bytes)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or ())
            length = headers.get(b"content-length")
            refusal = None
            if b"transfer-encoding" in headers and length is None:
                refusal = (411, "send the body with a Content-Length")
            elif length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                refusal = (413, f"body over the limit of {self.max_bytes} bytes")
            if refusal is not None:
                await JSONResponse({"detail": refusal[1]}, status_code=refusal[0],
                                   headers={"connection": "close"})(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(service: Any, settings: Settings) -> FastAPI:
    """The API over ``service`` (its registry, buffer, history store, tiers, sessions) with ``settings.api``.

    Raises ``ValueError`` when ``api.keys`` is empty and ``api.allow_no_auth`` is not set."""
    api = settings.api
    if not api.keys and not api.allow_no_auth:
        raise ValueError("api.keys is empty: set at least one API key (ATILAX_API__KEYS='[\"...\"]'), or "
                         "api.allow_no_auth = true to serve every route without authentication (testing only)")
    ctx = ApiContext(service, settings)
    keys = ApiKeys(api.key_values())
    limiter = RateLimiter(api.rate_limit_per_minute)
    # exactly the contract's routes: no /docs, /redoc or /openapi.json (`atilax api openapi` prints the document)
    app = FastAPI(title="Atilax API", version=_version(), docs_url=None, redoc_url=None, openapi_url=None,
                  description="Production optimization of artificially lifted wells: wells, optimization, "
                  "forecasts, learned views, field allocation, alarms and what-if simulation.")
    app.state.ctx = ctx
    app.state.rate_limiter = limiter
    registry = CollectorRegistry()
    registry.register(ServiceCollector(service))

    async def client(request: Request) -> str:
        """The caller's name (its key's index, or its address without keys), once its key and rate are checked;
        the headers are read here, not by sub-dependencies (this runs on every request: the fewer the better).
        A refused key counts against the address's own bucket, so guessing keys is rate-limited too."""
        headers = request.headers
        peer = request.client.host if request.client else "unknown"
        try:
            try:
                who = keys.client(headers.get("x-api-key"), headers.get("authorization"), peer)
            except Unauthorized as exc:
                limiter.admit(f"refused:{peer}")
                raise HTTPException(401, str(exc), headers={"WWW-Authenticate": 'Bearer realm="atilax"'}) from None
            limiter.admit(who)
        except RateLimited as exc:
            raise HTTPException(429, str(exc), headers={"Retry-After": str(max(1, round(exc.retry_after_s)))}) from None
        return who

    @app.get("/health", response_model=Health, tags=["Health"], summary="Liveness (no authentication)")
    def health() -> dict[str, Any]:
        return {"status": "ok", "wells": len(service.registry.valid_wells())}

    @app.get("/version", response_model=Version, tags=["Health"], summary="Service and API version")
    def version() -> dict[str, Any]:
        return {"name": "atilax", "version": _version(), "api": API_VERSION}

    protected = APIRouter(dependencies=[Depends(client)], responses=_ERRORS)

    @protected.get("/metrics", tags=["Health"], summary="Prometheus metrics",
                   response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    for module in (wells, analytics, field, alarms, simulation):
        protected.include_router(module.build_router(ctx))
    app.include_router(protected)

    @app.exception_handler(BufferUnavailableError)
    async def buffer_down(request: Request, exc: BufferUnavailableError) -> JSONResponse:
        return JSONResponse({"detail": f"telemetry buffer unreachable: {exc}"}, status_code=503,
                            headers={"Retry-After": "5"})

    _document_security(app)
    app.add_middleware(BodyLimit, max_bytes=api.max_body_bytes)
    app.add_middleware(RequestMetrics, registry=registry)
    return app


#: The routes open without a key (everything else needs one).
OPEN_PATHS = frozenset({"/health", "/version"})


def _document_security(app: FastAPI) -> None:
    """Publish the API-key and bearer schemes in the OpenAPI document, required by every operation but those of
    :data:`OPEN_PATHS` (the ``client`` dependency checks the headers itself)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()  # FastAPI's, cached: the additions below are made in place, idempotently
        document.setdefault("components", {})["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "Bearer": {"type": "http", "scheme": "bearer"}}
        for path, operations in document.get("paths", {}).items():
            if path not in OPEN_PATHS:
                for operation in operations.values():
                    operation["security"] = [{"ApiKey": []}, {"Bearer": []}]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def openapi_document(settings: Settings | None = None) -> dict[str, Any]:
    """The OpenAPI document of the API (no service needed: routes are described, not called)."""
    from tb_bridge.config import load_settings

    settings = settings or load_settings()
    described = settings.model_copy(update={"api": settings.api.model_copy(update={"allow_no_auth": True})})
    return create_app(None, described).openapi()
