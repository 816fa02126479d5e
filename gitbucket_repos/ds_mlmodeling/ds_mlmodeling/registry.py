"""The training run in MLflow, the registered model version, and loading a version back safely."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from ds_mlmodeling import training
from ds_mlmodeling.errors import PipelineError
from ds_mlmodeling.lineage import (
    CONTEXT_TAG,
    CONTEXT_TRAINING,
    DATASET_NAME,
    DATASET_SOURCE_TYPE,
    TAG_CODE_COMMIT,
    TAG_DATA_MD5,
    TAG_DATA_RUN_ID,
    TAG_DATA_TAG,
    DataRun,
    DataVersion,
    dataset_source,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

MODEL_ARTIFACT = "model"
# Packages the logged model needs to be served (recorded in its requirements.txt); given
# explicitly, so mlflow does not start a subprocess to infer them.
MODEL_REQUIREMENTS = ("scikit-learn", "skops", "numpy", "pandas", "scipy")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class TrainSettings:
    experiment: str
    model_name: str
    code_commit: str


@dataclass(frozen=True)
class TrainResult:
    model_name: str
    model_version: str
    run_id: str
    data_tag: str
    data_md5: str
    data_run_id: str
    metrics: dict[str, float]

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def lineage_tags(data: DataVersion, data_run: DataRun, code_commit: str) -> dict[str, str]:
    """Tags of the training run and of the model version it registers."""
    return {
        TAG_DATA_TAG: data.tag,
        TAG_DATA_MD5: data.md5,
        TAG_DATA_RUN_ID: data_run.run_id,
        TAG_CODE_COMMIT: code_commit,
    }


def experiment_id(client: MlflowClient, name: str) -> str:
    """The experiment's id, created on first use."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage != "active":
            raise PipelineError("mlflow", f"experiment {name!r} is deleted; restore it or set MLFLOW_EXPERIMENT_NAME")
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except MlflowException:
        again = client.get_experiment_by_name(name)  # created meanwhile by another run
        if again is None:
            raise
        return str(again.experiment_id)


def _requirements() -> list[str]:
    pins = []
    for name in MODEL_REQUIREMENTS:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pins.append(name)
    return pins


@contextmanager
def _step(name: str) -> Iterator[None]:
    """Any failure inside is a PipelineError of step ``name`` (the run then ends FAILED)."""
    try:
        yield
    except PipelineError:
        raise
    except Exception as error:
        text = " ".join(str(error).split())[:500]
        raise PipelineError(name, f"{type(error).__name__}: {text}") from error


def train_and_register(
    client: MlflowClient, frame: pd.DataFrame, data: DataVersion, data_run: DataRun, settings: TrainSettings
) -> TrainResult:
    """One run: params, lineage tags, the dataset input, fit, metrics, the model; then the model
    version. A failure before registration leaves a FAILED run and no version."""
    import mlflow
    import mlflow.sklearn
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.models import infer_signature

    with _step("mlflow"):
        exp_id = experiment_id(client, settings.experiment)
    tags = lineage_tags(data, data_run, settings.code_commit)
    run_tags = {**tags, "mlflow.source.name": "ds_mlmodeling.entrypoint train"}
    if settings.code_commit != "unknown":
        run_tags["mlflow.source.git.commit"] = settings.code_commit
    # Exactly the data run's source (the same dataset, whatever URL this job was given).
    source = data_run.dataset_source or dataset_source(data.repo_url, data.tag, data.path, data.md5)
    dataset = Dataset(name=DATASET_NAME, digest=data.md5, source_type=DATASET_SOURCE_TYPE, source=source)

    with _step("mlflow"):
        active = mlflow.start_run(experiment_id=exp_id, run_name=f"{settings.model_name} on {data.tag}", tags=run_tags)
    run_id = active.info.run_id
    with active:
        with _step("mlflow"):
            client.log_inputs(run_id, datasets=[DatasetInput(dataset, tags=[InputTag(CONTEXT_TAG, CONTEXT_TRAINING)])])
        with _step("train"):
            trained = training.train(frame)
        with _step("mlflow"):
            mlflow.log_params({**training.training_params(trained.split), "data_tag": data.tag, "data_md5": data.md5})
            mlflow.log_metrics(trained.metrics)
        with _step("log model"), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            example = trained.split.X_train.head(5)
            info = mlflow.sklearn.log_model(
                trained.model,
                name=MODEL_ARTIFACT,
                serialization_format="skops",
                signature=infer_signature(example, trained.model.predict(example)),
                input_example=example,
                pip_requirements=_requirements(),
            )
        with _step("register"):
            registered = mlflow.register_model(info.model_uri, settings.model_name, tags=tags)
            model_version = str(registered.version)
            client.update_model_version(
                settings.model_name,
                model_version,
                description=(
                    f"Trained on data tag {data.tag} (md5 {data.md5}) by code {settings.code_commit}; "
                    f"roc_auc {trained.metrics['roc_auc']:.6f} on the held-out split."
                ),
            )
    return TrainResult(
        model_name=settings.model_name,
        model_version=model_version,
        run_id=run_id,
        data_tag=data.tag,
        data_md5=data.md5,
        data_run_id=data_run.run_id,
        metrics=trained.metrics,
    )


def load_model_version(name: str, model_version: str, dst: Path, step: str) -> Any:
    """A registered version's scikit-learn model, loaded with skops and skops's default trust only.

    The model's own MLmodel file may list extra "trusted" types, and pickle formats run
    arbitrary code when loaded: neither is honoured. A model that needs a type skops does
    not trust by default is refused."""
    import mlflow
    import skops.io

    with _step(step):
        local = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{model_version}", dst_path=str(dst))
        )
        flavor = (yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8")).get("flavors") or {}).get("sklearn")
        if not isinstance(flavor, dict):
            raise PipelineError(step, f"{name} version {model_version} is not a scikit-learn model")
        if flavor.get("serialization_format") != "skops":
            raise PipelineError(
                step,
                f"{name} version {model_version} is serialized as {flavor.get('serialization_format')!r}; only "
                "skops models are loaded (pickle and cloudpickle run code when loaded)",
            )
        file_name = str(flavor.get("pickled_model", ""))
        if not _PLAIN_NAME.fullmatch(file_name) or file_name in (".", ".."):
            raise PipelineError(step, f"{name} version {model_version} names an odd model file {file_name!r}")
        untrusted = skops.io.get_untrusted_types(file=local / file_name)
        if untrusted:
            raise PipelineError(
                step, f"{name} version {model_version} contains types skops does not trust: {sorted(untrusted)}"
            )
        return skops.io.load(local / file_name, trusted=[])
