"""One registered version: found through the registry, downloaded through the tracking server's
artifact proxy (the API holds no storage credential), loaded with skops's default trust only,
and checked on its own input example before it may serve.

As the training job loads a champion (gitbucket_repos/ds_mlmodeling registry.load_model_version):
a model's MLmodel may list extra "trusted" types and pickle formats run code when loaded, so
neither is honoured; a model that needs a type skops does not trust is refused.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from model_api.settings import Settings

log = logging.getLogger("model_api")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)
# The lineage the training job records on each registered version (ds_mlmodeling lineage.py).
LINEAGE_TAGS = {"data_tag": "mlops.data_tag", "data_md5": "mlops.data_md5", "code_commit": "mlops.code_commit"}


class LoadError(Exception):
    """A version that cannot serve, and why. `lasting`: the version itself is at fault (not
    tried again); else a download or the host failed. `public`: what /health shows (the
    message may quote MLflow's answers and hosts: it goes to the log only)."""

    def __init__(self, message: str, *, lasting: bool = True, public: str | None = None) -> None:
        super().__init__(message)
        self.lasting = lasting
        self.public = public or message


@dataclass(frozen=True)
class Served:
    name: str
    version: int
    alias: str | None
    run_id: str
    features: tuple[str, ...]
    model: Any
    lineage: dict[str, str | None] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.time)

    def predict(self, rows: list[dict[str, float]]) -> list[Any]:
        import pandas

        frame = pandas.DataFrame([[row[f] for f in self.features] for row in rows], columns=list(self.features))
        return [_plain(value) for value in self.model.predict(frame)]


def _plain(value: Any) -> Any:
    """numpy scalars as JSON's numbers."""
    return value.item() if hasattr(value, "item") else value


def target_version(client: Any, settings: Settings) -> Any:
    """The ModelVersion the settings name now: the alias's, or the pinned one."""
    if settings.alias is not None:
        return client.get_model_version_by_alias(settings.model, settings.alias)
    return client.get_model_version(settings.model, str(settings.version))


def load(client: Any, settings: Settings, version: Any) -> Served:
    """Download, load and check `version` (a ModelVersion); LoadError names what is wrong."""
    import mlflow

    where = f"{settings.model} version {version.version}"
    dst = settings.work_dir / f"v{version.version}-{uuid.uuid4().hex[:8]}"
    dst.mkdir(parents=True, exist_ok=True)
    try:
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{settings.model}/{version.version}", dst_path=str(dst)
                )
            )
        except Exception as error:  # MLflow raises its own and requests' errors
            message = f"{where}: download failed: {type(error).__name__}: {str(error)[:300]}"
            raise LoadError(message, lasting=False, public=f"{where}: download failed (see the log)") from error
        return _loaded(client, settings, version, local, where)
    finally:
        shutil.rmtree(dst, ignore_errors=True)  # the model is in memory now


def _loaded(client: Any, settings: Settings, version: Any, local: Path, where: str) -> Served:
    try:
        return _checked(client, settings, version, local, where)
    except LoadError:
        raise
    except MemoryError as error:  # the host, not the version: tried again
        raise LoadError(f"{where}: out of memory while loading", lasting=False) from error
    except Exception as error:  # a missing or malformed MLmodel, a file that is not what it says
        raise LoadError(f"{where} cannot be loaded: {type(error).__name__}") from error


def _checked(client: Any, settings: Settings, version: Any, local: Path, where: str) -> Served:
    import skops.io

    mlmodel = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8")) or {}
    flavor = (mlmodel.get("flavors") or {}).get("sklearn")
    if not isinstance(flavor, dict):
        raise LoadError(f"{where} is not a scikit-learn model")
    if flavor.get("serialization_format") != "skops":
        raise LoadError(f"{where} is serialized as {flavor.get('serialization_format')!r}; only skops is loaded")
    file_name = str(flavor.get("pickled_model", ""))
    if not _PLAIN_NAME.fullmatch(file_name) or file_name in (".", ".."):
        raise LoadError(f"{where} names an odd model file {file_name!r}")
    untrusted = skops.io.get_untrusted_types(file=local / file_name)
    if untrusted:
        raise LoadError(f"{where} contains types skops does not trust: {sorted(untrusted)}")
    model = skops.io.load(local / file_name, trusted=[])
    features = _features(mlmodel, where)
    served = Served(
        name=settings.model,
        version=int(version.version),
        alias=settings.alias,
        run_id=str(version.run_id or ""),
        features=features,
        model=model,
        lineage=_lineage(client, version),
    )
    self_check(served, _example(local, mlmodel, features), where)
    return served


def _features(mlmodel: dict[str, Any], where: str) -> tuple[str, ...]:
    try:
        inputs = json.loads((mlmodel.get("signature") or {})["inputs"])
        names = tuple(str(column["name"]) for column in inputs)
    except (KeyError, TypeError, ValueError) as error:
        raise LoadError(f"{where} has no column signature (the API validates requests by it)") from error
    if not names or len(set(names)) != len(names):
        raise LoadError(f"{where} has an empty or repeated column signature")
    return names


def _example(local: Path, mlmodel: dict[str, Any], features: tuple[str, ...]) -> list[dict[str, float]]:
    """The version's saved input example (pandas split orient), else one row of zeros."""
    info = mlmodel.get("saved_input_example_info") or {}
    path = str(info.get("artifact_path", ""))
    if _PLAIN_NAME.fullmatch(path) and (local / path).is_file():
        try:
            example = json.loads((local / path).read_text(encoding="utf-8"))
            columns, data = example["columns"], example["data"]
            rows = [dict(zip(columns, row, strict=True)) for row in data]
            if rows and all(set(features) <= set(row) for row in rows):
                return [{f: float(row[f]) for f in features} for row in rows]
        except (KeyError, TypeError, ValueError):
            pass
    return [dict.fromkeys(features, 0.0)]


def self_check(served: Served, rows: list[dict[str, float]], where: str) -> None:
    """The version answers its own example with one finite prediction per row."""
    try:
        predictions = served.predict(rows)
    except Exception as error:  # whatever the model raises
        raise LoadError(f"{where} fails on its own input example: {type(error).__name__}") from error
    if len(predictions) != len(rows) or not all(_finite(p) for p in predictions):
        raise LoadError(f"{where} answers its own input example with {predictions[:3]!r}")


def _finite(value: Any) -> bool:
    if isinstance(value, bool | int | str):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _lineage(client: Any, version: Any) -> dict[str, str | None]:
    """The served model's chain back to its data: the version's tags and its run's dataset digest."""
    tags = dict(version.tags or {})
    lineage: dict[str, str | None] = {key: tags.get(tag) for key, tag in LINEAGE_TAGS.items()}
    lineage["dataset_digest"] = None
    try:
        inputs = client.get_run(version.run_id).inputs.dataset_inputs
        digests = [i.dataset.digest for i in inputs if i.dataset is not None]
        lineage["dataset_digest"] = digests[0] if digests else None
    except Exception as error:  # the digest is extra: the version's tags hold the same md5
        log.info("no dataset digest for run %s: %s", version.run_id, type(error).__name__)
    return lineage
