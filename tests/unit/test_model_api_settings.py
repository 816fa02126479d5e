"""The model API's settings (model_api/settings.py): defaults, and every problem named at once."""

from __future__ import annotations

import pytest

from mlops_clients.contracts import MLflowEnv, ModelApiEnv
from model_api.settings import SettingsError, from_env

GOOD: dict[str, str] = {
    ModelApiEnv.MODEL: "churn_model",
    MLflowEnv.TRACKING_URI: "http://mlflow:5000",
    MLflowEnv.TRACKING_USERNAME: "mlops-model-api",
    MLflowEnv.TRACKING_PASSWORD: "secret-password",
}


def test_the_alias_champion_is_followed_by_default() -> None:
    settings = from_env(GOOD)
    assert (settings.alias, settings.version, settings.target) == ("champion", None, "churn_model@champion")
    assert (settings.poll_seconds, settings.max_rows, settings.max_body_bytes) == (30, 1000, 1_048_576)
    pinned = from_env({**GOOD, ModelApiEnv.VERSION: "7"})
    assert (pinned.alias, pinned.version, pinned.target) == (None, 7, "churn_model version 7")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {ModelApiEnv.ALIAS: "champion", ModelApiEnv.VERSION: "3"},
            "set MODEL_API_ALIAS or MODEL_API_VERSION, not both",
        ),
        ({ModelApiEnv.VERSION: "0"}, "MODEL_API_VERSION must be a version number"),
        ({ModelApiEnv.VERSION: "latest"}, "MODEL_API_VERSION must be a version number"),
        ({ModelApiEnv.ALIAS: "v3"}, "not an alias MLflow accepts: 'v3'"),
        ({ModelApiEnv.MODEL: ""}, "MODEL_API_MODEL must name the registered model"),
        ({MLflowEnv.TRACKING_URI: "mlflow:5000"}, "MLFLOW_TRACKING_URI must be the tracking server's http(s) URL"),
        ({MLflowEnv.TRACKING_PASSWORD: ""}, "MLFLOW_TRACKING_PASSWORD is not set"),
        ({ModelApiEnv.POLL_SECONDS: "0"}, "MODEL_API_POLL_SECONDS must be a number from 1 to 3600, got '0'"),
        ({ModelApiEnv.MAX_ROWS: "lots"}, "MODEL_API_MAX_ROWS must be a number"),
    ],
)
def test_a_wrong_setting_is_named(change: dict[str, str], problem: str) -> None:
    with pytest.raises(SettingsError) as raised:
        from_env({**GOOD, **change})
    assert problem in str(raised.value)


def test_every_problem_is_listed_at_once_and_no_password_shown() -> None:
    with pytest.raises(SettingsError) as raised:
        from_env({MLflowEnv.TRACKING_PASSWORD: "secret-password", ModelApiEnv.MAX_ROWS: "0"})
    message = str(raised.value)
    assert message.count("\n  - ") == 4 and "secret-password" not in message
