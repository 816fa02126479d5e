"""The model API's settings (model_api/settings.py): defaults, and every problem named at once;
its request schema (model_api/app.py request_schema), a version's columns."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mlops_clients.contracts import MLflowEnv, ModelApiEnv
from model_api.app import request_schema
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
        ({ModelApiEnv.ALIAS: "v3"}, "got 'v3'"),
        ({ModelApiEnv.MODEL: ""}, "MODEL_API_MODEL must name a registered model"),
        ({MLflowEnv.TRACKING_URI: "mlflow:5000"}, "MLFLOW_TRACKING_URI must be the tracking server's http(s) URL"),
        ({MLflowEnv.TRACKING_PASSWORD: ""}, "MLFLOW_TRACKING_PASSWORD is not set"),
        ({ModelApiEnv.POLL_SECONDS: "0"}, "MODEL_API_POLL_SECONDS must be a number from 1 to 3600, got '0'"),
        ({ModelApiEnv.MAX_ROWS: "lots"}, "MODEL_API_MAX_ROWS must be a whole number from 1 to 10000, got 'lots'"),
        ({ModelApiEnv.MAX_ROWS: "1.5"}, "MODEL_API_MAX_ROWS must be a whole number"),
        ({ModelApiEnv.ALIAS: "Latest"}, "reserved), got 'Latest'"),
        ({MLflowEnv.TRACKING_URI: "http://u:p@mlflow:5000"}, "MLFLOW_TRACKING_URI must not hold a login"),
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


FEATURES = ("tenure", "monthly charges")  # a column name need not be an identifier


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        (b'{"dataframe_records": [{"tenure": 1}]}', ("dataframe_records", 0, "monthly charges"), "missing"),
        (
            b'{"dataframe_records": [{"tenure": true, "monthly charges": 1}]}',
            ("dataframe_records", 0, "tenure"),
            "float_type",
        ),
        (
            b'{"dataframe_records": [{"tenure": "1.5", "monthly charges": 1}]}',
            ("dataframe_records", 0, "tenure"),
            "float_type",
        ),
        (
            b'{"dataframe_records": [{"tenure": NaN, "monthly charges": 1}]}',
            ("dataframe_records", 0, "tenure"),
            "finite_number",
        ),
        (
            b'{"dataframe_records": [{"tenure": 1e400, "monthly charges": 1}]}',
            ("dataframe_records", 0, "tenure"),
            "finite_number",
        ),
        (
            b'{"dataframe_records": [{"tenure": 1, "monthly charges": 1, "x": 2}]}',
            ("dataframe_records", 0, "x"),
            "extra_forbidden",
        ),
        (b'{"dataframe_records": []}', ("dataframe_records",), "too_short"),
        (b"[" * 60_000, (), "json_invalid"),
        (b'{"dataframe_records": [{"tenure": ' + b"9" * 5000 + b', "monthly charges": 1}]}', (), "json_invalid"),
    ],
)
def test_the_request_schema_refuses_bad_bodies_with_the_field_and_never_crashes(
    body: bytes, loc: tuple[object, ...], kind: str | None
) -> None:
    """What /predict turns into 422s: pydantic's JSON parser (no recursion, no huge-integer
    error), strict numbers, no echo of the input (a NaN could not be written back as JSON)."""
    with pytest.raises(ValidationError) as raised:
        request_schema(FEATURES, 3).validate_json(body)
    errors = raised.value.errors(include_url=False, include_input=False)
    assert any(e["loc"] == loc and (kind is None or e["type"] == kind) for e in errors), errors
    assert all("input" not in e for e in errors)


def test_a_good_body_and_the_row_limit() -> None:
    good = b'{"dataframe_records": [{"tenure": 1, "monthly charges": 2.5}]}'
    [row] = request_schema(FEATURES, 3).validate_json(good).dataframe_records
    assert row.model_dump(by_alias=True) == {"tenure": 1.0, "monthly charges": 2.5}
    four = b'{"dataframe_records": [' + b",".join([b'{"tenure": 1, "monthly charges": 1}'] * 4) + b"]}"
    with pytest.raises(ValidationError, match=r"at most 3"):
        request_schema(FEATURES, 3).validate_json(four)
