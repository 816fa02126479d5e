"""``python -m ds_mlmodeling.entrypoint train`` / ``promote`` end to end, in process: a file://
data repository with a local DVC remote (real git and dvc), a sqlite MLflow store."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from test_flow import fake_data_run

from conftest import DataRepo, synthetic_features
from ds_mlmodeling.entrypoint import main

TAG = "CV_first_DV_20250101T000000Z"
SECRET = "s3-Secret-value"


@pytest.fixture(scope="module")
def repo(new_data_repo: Callable[[], DataRepo]) -> DataRepo:
    repo = new_data_repo()
    repo.md5 = repo.add_version(synthetic_features(rows=300, seed=11), TAG)  # type: ignore[attr-defined]
    return repo


@pytest.fixture
def env(repo: DataRepo, tmp_path: Path) -> Iterator[dict[str, str]]:
    uri = f"sqlite:///{tmp_path}/m.db"
    yield {
        **os.environ,
        "DATA_REPO_URL": repo.url,
        "MLFLOW_TRACKING_URI": uri,
        "AWS_ACCESS_KEY_ID": "unused-here",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "MODEL_CODE_COMMIT": "feedbeef",
    }
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


def last_json(text: str) -> dict[str, object]:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines  # stdout holds the result only
    result: dict[str, object] = json.loads(lines[-1])
    return result


def test_train_then_promote(repo: DataRepo, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    client = MlflowClient(env["MLFLOW_TRACKING_URI"], env["MLFLOW_TRACKING_URI"])
    data_run_id = fake_data_run(client, tag=TAG, md5=repo.md5)  # type: ignore[attr-defined]

    assert main(["train"], env) == 0  # DATA_TAG empty: the newest tag
    captured = capsys.readouterr()
    trained = last_json(captured.out)
    assert (trained["model_name"], trained["model_version"], trained["data_tag"]) == ("churn_model", "1", TAG)
    assert (trained["data_md5"], trained["data_run_id"]) == (repo.md5, data_run_id)  # type: ignore[attr-defined]
    assert isinstance(trained["metrics"], dict) and 0.5 < trained["metrics"]["roc_auc"] <= 1
    assert SECRET not in captured.err
    version = client.get_model_version("churn_model", "1")
    assert version.tags["mlops.code_commit"] == "feedbeef" and version.tags["mlops.data_tag"] == TAG

    assert main(["promote"], {**env, "MODEL_VERSION": "1"}) == 0
    promoted = last_json(capsys.readouterr().out)
    assert promoted == {
        "model_name": "churn_model",
        "model_version": "1",
        "promoted": True,
        "champion_version": "1",
        "candidate_roc_auc": trained["metrics"]["roc_auc"],
        "champion_roc_auc": None,
        "eval_data_tag": TAG,
        "detail": promoted["detail"],
    }

    # same data, same code: identical metrics, not promoted (a tie keeps the champion), exit 0
    assert main(["train"], {**env, "DATA_TAG": TAG}) == 0
    again = last_json(capsys.readouterr().out)
    assert again["model_version"] == "2" and again["metrics"] == trained["metrics"]
    assert main(["promote"], {**env, "MODEL_VERSION": "2"}) == 0
    second = last_json(capsys.readouterr().out)
    assert (second["promoted"], second["champion_version"]) == (False, "1")
    assert client.get_model_version("churn_model", "2").tags["mlops.promotion"] == "not-promoted"


def test_missing_tag_and_missing_data_run(
    repo: DataRepo, env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train"], {**env, "DATA_TAG": "CV_nope_DV_20250101T000000Z"}) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"ERROR [data tag] 'CV_nope_DV_20250101T000000Z' does not exist in {repo.url}" in captured.err

    assert main(["train"], env) == 1  # no data run in this store
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"ERROR [lineage] no MLflow run of de_datapreprocessing records data tag {TAG}" in captured.err
    client = MlflowClient(env["MLFLOW_TRACKING_URI"], env["MLFLOW_TRACKING_URI"])
    assert client.get_experiment_by_name("ds_mlmodeling") is None  # nothing was created
    assert client.search_registered_models() == []
