"""The served version, and following the alias: a new version is loaded beside the one serving
and swapped in by one reference assignment once it has passed its self-check, so no request
fails or waits during a swap; a version that fails is never swapped in."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge

from model_api.loading import LoadError, Served, load, target_version
from model_api.settings import Settings

log = logging.getLogger("model_api")

MODEL_VERSION_INFO = Gauge(
    "model_version_info",
    "The version being served (1), by name, version, alias and run",
    ["name", "version", "alias", "run_id"],
)
LOAD_FAILURES = Gauge(
    "model_api_consecutive_load_failures", "Failed lookups and loads since the target last served", ["name"]
)
LOAD_OUTCOMES = ("loaded", "load_failed", "lookup_failed")
LOADS = Counter(
    "model_api_loads_total", "Lookups and loads, by outcome (loaded, load_failed, lookup_failed)", ["name", "outcome"]
)
MODEL_LOADED = Gauge("model_api_model_loaded", "1 once a version serves", ["name"])
LAST_SWAP = Gauge("model_api_last_swap_timestamp_seconds", "When the serving version last changed", ["name"])


class ModelServer:
    def __init__(self, settings: Settings, client_factory: Callable[[], Any]) -> None:
        self.settings = settings
        self._client_factory = client_factory
        self.current: Served | None = None  # read without a lock: replaced whole, never changed
        self.last_error: str | None = None  # what /health shows: no MLflow answer, no host
        for gauge in (LOAD_FAILURES, MODEL_LOADED):  # a series from the start, so `== 0` alerts work
            gauge.labels(settings.model).set(0)
        for outcome in LOAD_OUTCOMES:  # at 0 from the start, so `increase` sees the first failure
            LOADS.labels(settings.model, outcome)
        self._failed: dict[int, str] = {}  # versions that failed: not downloaded again
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> None:
        """Look the target up; load and swap in a version that differs from the one serving."""
        client = self._client_factory()
        try:
            version = target_version(client, self.settings)
        except Exception as error:  # MLflow's and requests' errors alike
            log.warning("looking up %s failed: %s: %s", self.settings.target, type(error).__name__, str(error)[:300])
            self._failure(f"looking up {self.settings.target} failed (see the log)", "lookup_failed")
            return
        number = int(version.version)
        current = self.current
        if current is not None and current.version == number:
            self.last_error = None
            LOAD_FAILURES.labels(self.settings.model).set(0)
            return
        if number in self._failed:
            self.last_error = self._failed[number]
            return
        started = time.monotonic()
        try:
            served = load(client, self.settings, version)
        except LoadError as error:
            log.warning("%s", error)
            if error.lasting:
                self._failed[number] = error.public
            self._failure(error.public, "load_failed")
            return
        self._swap(served)
        log.info("serving %s version %d (loaded in %.1f s)", served.name, served.version, time.monotonic() - started)

    def _failure(self, message: str, outcome: str) -> None:
        self.last_error = message
        LOAD_FAILURES.labels(self.settings.model).inc()
        LOADS.labels(self.settings.model, outcome).inc()

    def _swap(self, served: Served) -> None:
        old, self.current = self.current, served
        self.last_error = None
        LOAD_FAILURES.labels(served.name).set(0)
        LOADS.labels(served.name, "loaded").inc()
        MODEL_LOADED.labels(served.name).set(1)
        LAST_SWAP.labels(served.name).set(time.time())
        MODEL_VERSION_INFO.labels(served.name, str(served.version), served.alias or "", served.run_id).set(1)
        if old is not None and (old.version, old.run_id) != (served.version, served.run_id):
            MODEL_VERSION_INFO.remove(old.name, str(old.version), old.alias or "", old.run_id)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._follow, name="follow-model", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # the loop must outlive any one failure
                log.exception("refreshing the model failed")
            if self.settings.version is not None and (self.current is not None or self._failed):
                return  # a pinned version does not move: served, or refused for good
            self._stop.wait(self.settings.poll_seconds)
