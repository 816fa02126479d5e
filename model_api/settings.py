"""The model API's settings, from its environment, refused whole and by name when wrong."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlops_clients.contracts import MLflowEnv, ModelApiEnv

# MLflow's registered-model names: anything but a few separators; kept to what the stack makes.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}", re.ASCII)
_ALIAS = re.compile(r"[\w-]{1,255}", re.ASCII)  # MLflow's; v<digits> and latest are reserved
_RESERVED_ALIAS = re.compile(r"[vV]\d+|latest", re.IGNORECASE)


def model_problem(model: str) -> str | None:
    """What is wrong with a registered model's name (None: nothing); also the stack config's check."""
    return None if _MODEL_NAME.fullmatch(model) else f"must name a registered model, got {model!r}"


def alias_problem(alias: str) -> str | None:
    if not _ALIAS.fullmatch(alias) or _RESERVED_ALIAS.fullmatch(alias):
        return f"is not an alias MLflow accepts ('latest' and v<number> are reserved), got {alias!r}"
    return None


POLL_SECONDS_LIMITS = (1.0, 3600.0)


class SettingsError(ValueError):
    """Every problem of the environment, named."""


@dataclass(frozen=True)
class Settings:
    model: str
    alias: str | None  # followed ...
    version: int | None  # ... or pinned
    tracking_uri: str
    poll_seconds: float
    max_body_bytes: int
    max_rows: int
    work_dir: Path

    @property
    def target(self) -> str:
        return f"{self.model}@{self.alias}" if self.alias else f"{self.model} version {self.version}"


def _number(
    env: Mapping[str, str], key: str, default: str, low: float, high: float, problems: list[str], whole: bool = False
) -> float:
    raw = env.get(key, default)
    try:
        value = float(int(raw)) if whole else float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        problems.append(f"{key} must be {kind} from {low:g} to {high:g}, got {raw!r}")
        return float(default)
    return value


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    problems: list[str] = []
    model = env.get(ModelApiEnv.MODEL, "")
    if wrong := model_problem(model):
        problems.append(f"{ModelApiEnv.MODEL} {wrong}")
    alias, version_text = env.get(ModelApiEnv.ALIAS, ""), env.get(ModelApiEnv.VERSION, "")
    version: int | None = None
    if alias and version_text:
        problems.append(f"set {ModelApiEnv.ALIAS} or {ModelApiEnv.VERSION}, not both")
    elif version_text:
        if not version_text.isdigit() or int(version_text) < 1:
            problems.append(f"{ModelApiEnv.VERSION} must be a version number (1, 2, ...), got {version_text!r}")
        else:
            version = int(version_text)
    elif not alias:
        alias = "champion"
    if alias and (wrong := alias_problem(alias)):
        problems.append(f"{ModelApiEnv.ALIAS} {wrong}")
    tracking_uri = env.get(MLflowEnv.TRACKING_URI, "")
    if not tracking_uri.startswith(("http://", "https://")):
        problems.append(f"{MLflowEnv.TRACKING_URI} must be the tracking server's http(s) URL, got {tracking_uri!r}")
    elif urlsplit(tracking_uri).username or urlsplit(tracking_uri).password:
        # It would show in MLflow's error messages: the login goes in MLFLOW_TRACKING_USERNAME/PASSWORD.
        problems.append(f"{MLflowEnv.TRACKING_URI} must not hold a login")
    for key in (MLflowEnv.TRACKING_USERNAME, MLflowEnv.TRACKING_PASSWORD):
        if not env.get(key):
            problems.append(f"{key} is not set (the API reads the registry with its own account)")
    poll = _number(env, ModelApiEnv.POLL_SECONDS, "30", *POLL_SECONDS_LIMITS, problems)
    # Parsing, validation and prediction run on the event loop: bounded so that /health and
    # /metrics never wait long behind one request.
    max_body = _number(env, ModelApiEnv.MAX_BODY_BYTES, "1048576", 1024, 8 * 1024 * 1024, problems, whole=True)
    max_rows = _number(env, ModelApiEnv.MAX_ROWS, "1000", 1, 10_000, problems, whole=True)
    if problems:
        raise SettingsError("the model API's settings are wrong:\n" + "\n".join(f"  - {p}" for p in problems))
    return Settings(
        model=model,
        alias=alias or None,
        version=version,
        tracking_uri=tracking_uri,
        poll_seconds=poll,
        max_body_bytes=int(max_body),
        max_rows=int(max_rows),
        work_dir=Path(env.get(ModelApiEnv.WORK_DIR, "/tmp/model-api")),  # noqa: S108 (its own container)
    )
