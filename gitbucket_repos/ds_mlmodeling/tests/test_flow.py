"""train -> register -> promote in process, on a local sqlite MLflow store (no server, no git).

The data job's run is faked the way de_datapreprocessing records it; the data loader of
``promote`` is a function returning the synthetic table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Dataset, DatasetInput, InputTag
from mlflow.tracking import MlflowClient
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ds_mlmodeling import training
from ds_mlmodeling.data import DATA_PATH, check_features
from ds_mlmodeling.errors import PipelineError
from ds_mlmodeling.lineage import DataVersion, dataset_source, find_data_run
from ds_mlmodeling.promotion import CHAMPION_ALIAS, promote
from ds_mlmodeling.registry import TrainSettings, load_model_version, train_and_register

TAG = "CV_first_DV_20250101T000000Z"
REPO = "http://gitbucket:8080/git/root/de_datapreprocessing.git"
MD5 = "0123456789abcdef0123456789abcdef"
MODEL = "churn_model"


def fake_data_run(client: MlflowClient, tag: str = TAG, md5: str = MD5, status: str = "FINISHED") -> str:
    """A run like the one de_datapreprocessing logs for a data version."""
    experiment = client.get_experiment_by_name("de_datapreprocessing")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment("de_datapreprocessing")
    run = client.create_run(
        experiment_id,
        run_name=tag,
        tags={
            "mlops.data_tag": tag,
            "mlops.data_md5": md5,
            "mlops.code_commit": "c0de" * 10,
            "mlops.code_ref": "main",
            "mlops.dvc_path": DATA_PATH,
        },
    )
    source = dataset_source(REPO, tag, DATA_PATH, md5)
    dataset = Dataset(name="churn_features", digest=md5, source_type="dvc", source=source)
    client.log_inputs(run.info.run_id, datasets=[DatasetInput(dataset, [InputTag("mlflow.data.context", "produced")])])
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id


@pytest.fixture
def client(tmp_path: Path) -> Iterator[MlflowClient]:
    uri = f"sqlite:///{tmp_path}/m.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield MlflowClient(uri, uri)
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture
def frame(make_features: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    return check_features(make_features(rows=300))


def loader(frame: pd.DataFrame, md5: str = MD5) -> Callable[[str], tuple[DataVersion, pd.DataFrame]]:
    return lambda tag: (DataVersion(tag, md5, REPO), frame)


def train_version(client: MlflowClient, frame: pd.DataFrame) -> tuple[str, dict[str, float], str]:
    data = DataVersion(TAG, MD5, REPO)
    data_run = find_data_run(client, "de_datapreprocessing", data)
    result = train_and_register(client, frame, data, data_run, TrainSettings("ds_mlmodeling", MODEL, "abc123"))
    return result.model_version, result.metrics, result.run_id


def aliases(client: MlflowClient) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(MODEL).aliases.items()}


def dummy_pipeline() -> Pipeline:
    """A model that knows nothing (roc_auc 0.5): the worse one."""
    return Pipeline([("scale", StandardScaler()), ("classifier", DummyClassifier(strategy="prior"))])


def test_train_records_lineage(client: MlflowClient, frame: pd.DataFrame, tmp_path: Path) -> None:
    data_run_id = fake_data_run(client)
    data = DataVersion(TAG, MD5, "http://other-name-of-the-same-repo/x.git")
    data_run = find_data_run(client, "de_datapreprocessing", data)
    assert data_run.run_id == data_run_id
    result = train_and_register(client, frame, data, data_run, TrainSettings("ds_mlmodeling", MODEL, "abc123"))
    out = json.loads(result.to_json())
    assert set(out) == {"model_name", "model_version", "run_id", "data_tag", "data_md5", "data_run_id", "metrics"}
    assert (out["model_name"], out["model_version"], out["data_tag"], out["data_run_id"]) == (
        MODEL,
        "1",
        TAG,
        data_run_id,
    )
    assert out["metrics"] == training.train(frame).metrics

    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    lineage = {"mlops.data_tag": TAG, "mlops.data_md5": MD5, "mlops.data_run_id": data_run_id}
    assert lineage.items() <= run.data.tags.items()
    assert run.data.tags["mlops.code_commit"] == "abc123"
    assert run.data.metrics["roc_auc"] == out["metrics"]["roc_auc"]
    assert run.data.params["data_tag"] == TAG and run.data.params["seed"] == "42"
    # the same dataset as the data run's: name, digest, source type and source, byte for byte
    (used,) = run.inputs.dataset_inputs
    (produced,) = client.get_run(data_run_id).inputs.dataset_inputs
    for field in ("name", "digest", "source_type", "source"):
        assert getattr(used.dataset, field) == getattr(produced.dataset, field)
    assert {t.key: t.value for t in used.tags} == {"mlflow.data.context": "training"}

    version = client.get_model_version(MODEL, "1")
    assert version.run_id == result.run_id
    assert {**lineage, "mlops.code_commit": "abc123"}.items() <= version.tags.items()
    model = load_model_version(MODEL, "1", tmp_path / "download", "candidate")
    assert training.roc_auc(model, training.split_data(frame)) == out["metrics"]["roc_auc"]


def test_promotion_flow(client: MlflowClient, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_data_run(client)
    with monkeypatch.context() as patch:
        patch.setattr(training, "build_pipeline", dummy_pipeline)
        weak, weak_metrics, _ = train_version(client, frame)
    assert weak_metrics["roc_auc"] == 0.5

    # no champion yet: promoted
    first = promote(client, MODEL, weak, loader(frame))
    assert (first.promoted, first.champion_version, first.champion_roc_auc) == (True, weak, None)
    assert aliases(client) == {CHAMPION_ALIAS: weak}
    assert client.get_model_version(MODEL, weak).tags["mlops.promotion"] == "promoted"

    # better: promoted
    good, good_metrics, _ = train_version(client, frame)
    second = promote(client, MODEL, good, loader(frame))
    assert second.promoted and second.champion_version == good
    assert (second.candidate_roc_auc, second.champion_roc_auc) == (good_metrics["roc_auc"], 0.5)
    assert str(client.get_model_version_by_alias(MODEL, CHAMPION_ALIAS).version) == good
    detail = client.get_model_version(MODEL, good).tags["mlops.promotion_detail"]
    assert TAG in detail and f"{good_metrics['roc_auc']:.6f}" in detail and "0.500000" in detail

    # worse: not promoted, the champion stays
    with monkeypatch.context() as patch:
        patch.setattr(training, "build_pipeline", dummy_pipeline)
        worse, _, _ = train_version(client, frame)
    third = promote(client, MODEL, worse, loader(frame))
    assert (third.promoted, third.champion_version) == (False, good)
    tags = client.get_model_version(MODEL, worse).tags
    assert tags["mlops.promotion"] == "not-promoted" and "version " + good in tags["mlops.promotion_detail"]

    # equal (same data, same code): not promoted
    same, same_metrics, _ = train_version(client, frame)
    assert same_metrics == good_metrics
    fourth = promote(client, MODEL, same, loader(frame))
    assert (fourth.promoted, fourth.champion_version) == (False, good)
    assert fourth.candidate_roc_auc == fourth.champion_roc_auc
    assert client.get_model_version(MODEL, same).tags["mlops.promotion"] == "not-promoted"

    # the champion itself: nothing moves
    fifth = promote(client, MODEL, good, loader(frame))
    assert (fifth.promoted, fifth.champion_version) == (False, good)
    assert "already the champion" in fifth.detail
    assert aliases(client) == {CHAMPION_ALIAS: good}
    out = json.loads(fifth.to_json())
    assert {
        "model_name",
        "model_version",
        "promoted",
        "champion_version",
        "candidate_roc_auc",
        "champion_roc_auc",
        "eval_data_tag",
    } <= set(out)
    assert out["eval_data_tag"] == TAG


def test_no_data_run_no_training(client: MlflowClient, frame: pd.DataFrame) -> None:
    with pytest.raises(PipelineError, match="experiment does not exist"):
        find_data_run(client, "de_datapreprocessing", DataVersion(TAG, MD5, REPO))
    fake_data_run(client, tag="CV_other_DV_20250101T000000Z")
    fake_data_run(client, status="FAILED")  # a data run whose tag was never pushed
    with pytest.raises(PipelineError) as error:
        find_data_run(client, "de_datapreprocessing", DataVersion(TAG, MD5, REPO))
    assert error.value.step == "lineage"
    assert error.value.message.startswith(f"no MLflow run of de_datapreprocessing records data tag {TAG}")
    assert client.search_registered_models() == []


def test_data_run_md5_must_match(client: MlflowClient) -> None:
    fake_data_run(client, md5="f" * 32)
    with pytest.raises(PipelineError, match=r"records md5 f{32}"):
        find_data_run(client, "de_datapreprocessing", DataVersion(TAG, MD5, REPO))


def test_failed_training_registers_nothing(
    client: MlflowClient, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_data_run(client)

    def broken() -> Pipeline:
        raise ValueError("no convergence")

    monkeypatch.setattr(training, "build_pipeline", broken)
    with pytest.raises(PipelineError) as error:
        train_version(client, frame)
    assert (error.value.step, error.value.message) == ("train", "ValueError: no convergence")
    assert client.search_registered_models() == []
    (run,) = client.search_runs([client.get_experiment_by_name("ds_mlmodeling").experiment_id])
    assert run.info.status == "FAILED"


def test_promote_refuses_a_version_without_data_tag_and_pickled_models(
    client: MlflowClient, frame: pd.DataFrame, tmp_path: Path
) -> None:
    trained = training.train(frame)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(trained.model, name="model", serialization_format="cloudpickle")
    version = mlflow.register_model(info.model_uri, MODEL).version
    with pytest.raises(PipelineError, match=r"no mlops\.data_tag tag"):
        promote(client, MODEL, str(version), loader(frame))
    client.set_model_version_tag(MODEL, str(version), "mlops.data_tag", TAG)
    with pytest.raises(PipelineError, match="only skops models are loaded"):
        promote(client, MODEL, str(version), loader(frame))
    with pytest.raises(PipelineError, match="was trained on md5"):
        client.set_model_version_tag(MODEL, str(version), "mlops.data_md5", "e" * 32)
        promote(client, MODEL, str(version), loader(frame))
    with pytest.raises(PipelineError) as error:
        promote(client, MODEL, "99", loader(frame))
    assert error.value.step == "model version"
    assert aliases(client) == {}
