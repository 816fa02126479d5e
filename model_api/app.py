"""The HTTP API. `uvicorn --factory model_api.app:create_app` (one worker per container).

- POST /predict: {"dataframe_records": [{column: number, ...}, ...]} (MLflow's scoring format)
  -> {"predictions": [...], "model": {...}}; 422 names the bad field, 413 a body over the
  limit, 503 before a model serves.
- GET /health: 200 once a version serves (with the last failed load, if any), else 503 and why.
- GET /metadata: name, version, alias, run id, dataset digest, data tag, code commit: the
  served model's lineage.
- GET /metrics: Prometheus: requests, latencies, rows, loads, model_version_info.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, create_model

from model_api.serving import ModelServer
from model_api.settings import Settings, from_env

REQUESTS = Counter("model_api_requests_total", "Requests, by endpoint and status", ["endpoint", "status"])
LATENCY = Histogram(
    "model_api_request_duration_seconds",
    "Request latency, by endpoint",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ROWS = Counter("model_api_prediction_rows_total", "Rows predicted")
ENDPOINTS = ("/predict", "/health", "/metadata", "/metrics")
log = logging.getLogger("model_api")


@lru_cache(maxsize=16)
def request_schema(features: tuple[str, ...], max_rows: int) -> TypeAdapter[Any]:
    """The body a version accepts: its columns, each a number, nothing else, 1 to max_rows rows."""
    fields: dict[str, Any] = {
        # strict: a JSON number only (no true, no "1.5"); an integer is a number
        f"c{i}": (float, Field(alias=name, strict=True, allow_inf_nan=False))
        for i, name in enumerate(features)
    }
    row = create_model("Row", __config__=ConfigDict(extra="forbid", populate_by_name=False), **fields)
    body = create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid"),
        dataframe_records=(list[row], Field(min_length=1, max_length=max_rows)),  # type: ignore[valid-type]
    )
    return TypeAdapter(body)


def create_app(settings: Settings | None = None, server: ModelServer | None = None) -> FastAPI:
    settings = settings or from_env()
    if server is None:
        from mlflow import MlflowClient

        server = ModelServer(settings, lambda: MlflowClient(tracking_uri=settings.tracking_uri))
    model_server = server

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        model_server.start()
        yield
        model_server.stop()

    app = FastAPI(title="mlops-stack model API", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        endpoint = request.url.path if request.url.path in ENDPOINTS else "other"
        started = time.perf_counter()
        status = "500"
        try:
            response = await call_next(request)
            status = str(response.status_code)
            return response
        finally:  # an exception too is a request, answered 500
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)
            REQUESTS.labels(endpoint, status).inc()

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        served = model_server.current  # this request's version, whatever a swap does meanwhile
        if served is None:
            return JSONResponse({"detail": "no model loaded yet", "error": model_server.last_error}, status_code=503)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > settings.max_body_bytes:
            return _too_large(settings)
        body = bytearray()
        async for chunk in request.stream():  # chunked bodies too: counted as they come
            body.extend(chunk)
            if len(body) > settings.max_body_bytes:
                return _too_large(settings)
        try:  # pydantic's own JSON parser: no recursion or huge-integer trouble, typed errors
            parsed = request_schema(served.features, settings.max_rows).validate_json(bytes(body))
        except ValidationError as error:
            details = error.errors(include_url=False, include_context=False, include_input=False)
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in details]) from error
        rows = [row.model_dump(by_alias=True) for row in parsed.dataframe_records]
        try:
            predictions = served.predict(rows)
            model = {"name": served.name, "version": served.version, "alias": served.alias}
            return JSONResponse({"predictions": predictions, "model": model})
        except Exception:  # the model's failure, or an answer JSON cannot hold (NaN)
            log.exception("prediction failed on %s version %d", served.name, served.version)
            return JSONResponse({"detail": "the model failed on this input"}, status_code=500)
        finally:
            ROWS.inc(len(rows))

    @app.get("/health")
    async def health() -> Response:
        served = model_server.current
        if served is None:
            status = "failing" if model_server.last_error else "loading"
            return JSONResponse({"status": status, "error": model_server.last_error}, status_code=503)
        return JSONResponse(
            {
                "status": "ready",
                "model": served.name,
                "version": served.version,
                "last_load_error": model_server.last_error,
            }
        )

    @app.get("/metadata")
    async def metadata() -> Response:
        served = model_server.current
        if served is None:
            return JSONResponse({"detail": "no model loaded yet"}, status_code=503)
        return JSONResponse(
            {
                "name": served.name,
                "version": served.version,
                "alias": served.alias,
                "run_id": served.run_id,
                "features": list(served.features),
                **served.lineage,
                "loaded_at": served.loaded_at,
            }
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _too_large(settings: Settings) -> Response:
    return JSONResponse({"detail": f"the body is over {settings.max_body_bytes} bytes"}, status_code=413)
