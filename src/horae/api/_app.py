"""`create_app`: the HTTP face of a running horae — Chronos's API (3.x and 2.x paths), the native API,
`/ping` and Prometheus `/metrics`, behind optional authentication."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response

from horae.api._chronos import chronos_router
from horae.api._errors import install_error_handlers
from horae.api._middleware import Credentials, EdgeMiddleware
from horae.api._native import native_router
from horae.api._service import Service

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def create_app(service: Service, *, auth: tuple[str, str] | None = None, token: str | None = None) -> FastAPI:
    """The ASGI app for `service`. With `auth` every route but `/ping` needs HTTP Basic; with `token`,
    `Authorization: Bearer <token>` is accepted as well. Routes only translate; `service` decides."""
    app = FastAPI(
        title="horae",
        summary="A distributed cron for containers, speaking Chronos's REST API",
        version="1",
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(EdgeMiddleware, credentials=Credentials(auth, token))

    @app.get("/ping", response_class=PlainTextResponse, tags=["server"], summary="Liveness (no auth)")
    async def ping() -> Response:
        return PlainTextResponse(
            "pong\n", headers={"Cache-Control": "must-revalidate,no-cache,no-store"}, media_type="text/plain"
        )

    @app.get("/metrics", response_class=PlainTextResponse, tags=["server"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(service.metrics_text(), media_type=PROMETHEUS_TEXT)

    app.include_router(chronos_router(service, legacy=False), prefix="/v1/scheduler")
    app.include_router(chronos_router(service, legacy=True), prefix="/scheduler")
    app.include_router(native_router(service))
    return app
