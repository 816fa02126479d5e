"""The lineage record's configuration and the dataset source every run of a data version shares."""

from __future__ import annotations

import json

import pytest

from de_datapreprocessing import entrypoint, lineage

BASE = {"GIT_REPO_URL": "http://gitbucket:8080/git/root/de_datapreprocessing.git", "DVC_REMOTE_URL": "s3://b/d"}


def test_no_tracking_uri_means_no_lineage_record() -> None:
    assert lineage.TrackingConfig.from_env({}) == (None, [])
    assert entrypoint.Config.from_env(BASE).tracking is None


def test_a_tracking_uri_needs_an_account() -> None:
    with pytest.raises(entrypoint.ConfigError, match="MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"):
        entrypoint.Config.from_env({**BASE, "MLFLOW_TRACKING_URI": "http://mlflow:5000"})


def test_a_tracking_uri_must_be_http() -> None:
    env = {"MLFLOW_TRACKING_URI": "file:///tmp/x", "MLFLOW_TRACKING_USERNAME": "u", "MLFLOW_TRACKING_PASSWORD": "p"}
    with pytest.raises(entrypoint.ConfigError, match="must be an http"):
        entrypoint.Config.from_env({**BASE, **env})


def test_the_tracking_config_is_read_and_its_password_masked_in_output() -> None:
    env = {
        "MLFLOW_TRACKING_URI": "http://mlflow:5000/",
        "MLFLOW_TRACKING_USERNAME": "mlflow-pipeline",
        "MLFLOW_TRACKING_PASSWORD": "tracking-secret-value",
    }
    config = entrypoint.Config.from_env({**BASE, **env})
    assert config.tracking == lineage.TrackingConfig(
        "http://mlflow:5000", "mlflow-pipeline", "tracking-secret-value", "de_datapreprocessing"
    )
    runner = entrypoint.Runner(config, {})
    assert runner._scrub("auth tracking-secret-value failed") == "auth *** failed"


def test_the_dataset_source_is_canonical_json() -> None:
    """Byte-equal on the data run and on every training run of the same version."""
    source = lineage.dataset_source("http://g/r.git", "CV_x_DV_20250101T000000Z", "data/f.csv", "0" * 32)
    assert source == json.dumps(
        {"md5": "0" * 32, "path": "data/f.csv", "repo": "http://g/r.git", "tag": "CV_x_DV_20250101T000000Z"},
        sort_keys=True,
    )


def test_an_unreachable_server_is_a_lineage_error_naming_it() -> None:
    tracking = lineage.Tracking(lineage.TrackingConfig("http://127.0.0.1:9", "u", "p"), timeout=2)
    with pytest.raises(lineage.LineageError, match=r"MLflow at http://127.0.0.1:9 does not answer"):
        tracking.experiment_id()
