"""The model API's room under Pulumi's mocks: its account, its replicas and its config errors."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from components import model_api
from components.config import ConfigError
from mlops_clients.contracts import MLflowAction, MLflowEnv, ModelApiEnv
from tests.unit.conftest import BASE_CONFIG, PROJECT_DIR, Evaluation, env_of, evaluate, is_secret, plain
from tests.unit.test_program import COMMAND, CONTAINER, _contains, _plaintext_paths

ADMIN_PASSWORD = "mock-secret-mlflow-admin-password"
API_PASSWORD = "mock-secret-modelapi-mlflow-password"


def holders(evaluation: Evaluation, needle: str) -> list[str]:
    return sorted(
        r.name for r in evaluation.resources.values() if r.type in (CONTAINER, COMMAND) and _contains(r.inputs, needle)
    )


def test_the_api_holds_only_its_read_account_and_starts_after_the_grant(dev: Evaluation) -> None:
    grant, server = dev.named("modelapi-grant"), dev.named("modelapi-server-1")
    assert plain(grant.inputs["command"])[-1] == MLflowAction.GRANT_MODEL_API
    granted = env_of(grant)
    assert granted[MLflowEnv.MODEL_API_USER] == model_api.USER and granted[ModelApiEnv.MODEL] == "churn_model"
    assert granted[ModelApiEnv.EXPERIMENT] == model_api.TRAINING_EXPERIMENT
    # The admin password reaches the one-shot grant step only (and MLflow's own containers).
    assert holders(dev, ADMIN_PASSWORD) == ["mlflow-prepare", "modelapi-grant"]
    assert holders(dev, API_PASSWORD) == ["modelapi-grant", "modelapi-server-1"]
    for resource in (grant, server):
        assert _plaintext_paths(resource.inputs, API_PASSWORD) == [], resource.name
    env = env_of(server)
    assert env[MLflowEnv.TRACKING_URI] == "http://mlflow:5000" and env[MLflowEnv.TRACKING_USERNAME] == model_api.USER
    assert env[ModelApiEnv.ALIAS] == "champion" and ModelApiEnv.VERSION not in env
    assert not [k for k in env if k.startswith(("AWS_", "MLFLOW_S3"))]  # no storage credential
    assert dev.depends_on(server, grant) and dev.depends_on(grant, dev.named("mlflow-server"))
    assert dev.outputs["modelApiUrl"] == "http://127.0.0.1:8000"
    assert dev.outputs["mlflowModelApiUser"] == model_api.USER and is_secret(dev.outputs["mlflowModelApiPassword"])
    # Its code is uploaded, every file the app and the grant step import.
    uploaded = {u["file"] for u in plain(server.inputs["uploads"])}
    assert uploaded == {f"{model_api.CODE_DIR}/{f}" for f in model_api.CODE_FILES}
    assert {p.relative_to(PROJECT_DIR).as_posix() for p in (PROJECT_DIR / "model_api").glob("*.py")} <= set(
        model_api.CODE_FILES
    )


def test_replicas_share_an_alias_on_ports_of_their_own_and_a_version_can_be_pinned() -> None:
    evaluation = evaluate({**BASE_CONFIG, "modelApi": {"replicas": 3, "alias": "", "version": 4}})
    servers = [evaluation.named(f"modelapi-server-{i}") for i in (1, 2, 3)]
    assert [s.inputs["networksAdvanced"][0]["aliases"] for s in servers] == [
        [f"model-api-{i}", "model-api"] for i in (1, 2, 3)
    ]
    assert [s.inputs["ports"][0]["external"] for s in servers] == [8000, 8001, 8002]
    assert evaluation.outputs["modelApiUrls"] == [f"http://127.0.0.1:{p}" for p in (8000, 8001, 8002)]
    env = env_of(servers[0])
    assert env[ModelApiEnv.VERSION] == "4" and ModelApiEnv.ALIAS not in env


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"model": "bad name"}, "'modelApi.model' must name a registered model, got 'bad name'"),
        ({"alias": "latest"}, "'modelApi.alias' is not an alias MLflow accepts"),
        ({"alias": "V2"}, "'modelApi.alias' is not an alias MLflow accepts"),
        ({"version": 3}, "'modelApi.version' pins a version: set 'modelApi.alias' to \"\""),
        ({"alias": ""}, "'modelApi.alias' is empty and no 'modelApi.version' is set"),
        ({"alias": "", "version": 0}, "'modelApi.version' must be a registered version number"),
        ({"replicas": 0}, "'modelApi.replicas' must be a whole number from 1 to 8, got 0"),
        ({"pollSeconds": 0.5}, "'modelApi.pollSeconds' must be a number of seconds from 1 to 3600, got 0.5"),
        ({"replicas": 2, "port": 8084}, "host port 8085 is used by both airflow.port and modelApi.port+1 (replica 2)"),
        ({"replicas": 2, "port": 65535}, "'modelApi' port+1 (replica 2) would be on port 65536, outside 1-65535"),
    ],
)
def test_bad_model_api_settings_are_refused_naming_the_key(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate({**BASE_CONFIG, "modelApi": settings})
    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_it_builds_on_mlflows_configured_image_unless_told_otherwise() -> None:
    mirrored = evaluate({**BASE_CONFIG, "mlflow": {"image": "mirror.local/mlflow/mlflow:v3.17.2"}})
    assert plain(mirrored.named("modelapi-image").inputs["build"]["buildArgs"]) == {
        "MLFLOW_IMAGE": "mirror.local/mlflow/mlflow:v3.17.2"
    }
    own = evaluate({**BASE_CONFIG, "modelApi": {"image": "other.local/mlflow:3"}})
    assert plain(own.named("modelapi-image").inputs["build"]["buildArgs"]) == {"MLFLOW_IMAGE": "other.local/mlflow:3"}


def test_it_needs_mlflow() -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate({**BASE_CONFIG, "mlflow": {"enabled": False}})
    assert raised.value.problems == ["modelApi is enabled but needs mlflow, which is disabled"]


def test_its_defaults_are_the_training_jobs() -> None:
    """The training job (its own repo, its own image) names the experiment and the model."""
    source = PROJECT_DIR / "gitbucket_repos" / "ds_mlmodeling" / "ds_mlmodeling" / "entrypoint.py"
    constants = {
        target.id: node.value.value
        for node in ast.parse(source.read_text()).body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert constants["DEFAULT_EXPERIMENT"] == model_api.TRAINING_EXPERIMENT
    assert constants["DEFAULT_MODEL_NAME"] == model_api.SPEC.settings["model"].default
