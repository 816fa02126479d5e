"""Entrypoint pieces that need no server: configuration, credentials, masking, exit codes."""

from __future__ import annotations

import io
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ds_mlmodeling.entrypoint import Config, ConfigError, MaskedStream, main, redact_url
from ds_mlmodeling.gitdata import Runner

BASE = {
    "DATA_REPO_URL": "http://gitbucket:8080/git/root/de_datapreprocessing.git",
    "MLFLOW_TRACKING_URI": "http://mlflow:5000",
    "MLFLOW_TRACKING_USERNAME": "trainer",
    "MLFLOW_TRACKING_PASSWORD": "ml-secret",
    "AWS_ACCESS_KEY_ID": "key",
    "AWS_SECRET_ACCESS_KEY": "s3-secret",
}
PASSWORD = "p@ss w\\rd $HOME `x` 'q\" -n"


def test_defaults() -> None:
    config = Config.from_env("train", BASE)
    assert (config.experiment, config.data_experiment, config.model_name) == (
        "ds_mlmodeling",
        "de_datapreprocessing",
        "churn_model",
    )
    assert (config.data_tag, config.code_commit, config.s3_endpoint) == ("", "unknown", "")


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        Config.from_env("promote", {"DATA_TAG": "latest", "MODEL_NAME": "a/b", "MLFLOW_TRACKING_USERNAME": "u"})
    text = str(error.value)
    for part in (
        "DATA_REPO_URL",
        "MLFLOW_TRACKING_URI",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "DATA_TAG='latest'",
        "MODEL_NAME",
        "MODEL_VERSION is not set",
        "set together",
    ):
        assert part in text


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MODEL_VERSION": "latest"}, "MODEL_VERSION='latest'"),
        ({"MODEL_VERSION": "0"}, "MODEL_VERSION='0'"),
        ({"DATA_REPO_URL": "ssh://git@h/x.git"}, "DATA_REPO_URL must be an http(s) URL"),
        ({"MLFLOW_TRACKING_URI": "mlflow:5000"}, "MLFLOW_TRACKING_URI"),
        ({"MLFLOW_TRACKING_URI": "http://u:p@mlflow:5000"}, "must not hold credentials"),
        ({"DVC_S3_ENDPOINT_URL": "minio:9000"}, "DVC_S3_ENDPOINT_URL"),
        ({"DATA_TAG": "CV_x_DV_20250101T000000Z'; drop"}, "DATA_TAG"),
    ],
)
def test_bad_values(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Config.from_env("promote", {**BASE, **env})


def test_credentials_in_the_url_are_moved_out_of_it() -> None:
    config = Config.from_env("train", {**BASE, "DATA_REPO_URL": "http://bob:s%40cret@git.local:8080/x.git"})
    assert config.repo_url == "http://git.local:8080/x.git"
    assert (config.git_username, config.git_password) == ("bob", "s@cret")
    assert redact_url("https://u:p@h:1/p?q") == "https://h:1/p?q"


def test_secrets_are_masked_in_output() -> None:
    config = Config.from_env("train", {**BASE, "GIT_PASSWORD": "g/it pw"})
    target = io.StringIO()
    stream = MaskedStream(target, config.secrets({**BASE, "GIT_PASSWORD": "g/it pw"}))
    stream.write("a ml-secret b s3-")
    stream.write("secret c\nurl http://u:g%2Fit%20pw@h and g/it pw\ntail ml-secret")
    stream.flush()
    assert "secret" not in target.getvalue().replace("***", "")
    assert target.getvalue() == "a *** b *** c\nurl http://u:***@h and ***\ntail ***"


def test_credential_helper_hands_env_credentials_to_git(tmp_path: Path) -> None:
    config = Config.from_env("train", {**BASE, "GIT_USERNAME": "alice", "GIT_PASSWORD": PASSWORD})
    runner = Runner(config.repo_url, config.git_username, config.git_password, {"PATH": "/usr/bin:/bin"}, tmp_path, ())
    assert all(PASSWORD not in value for key, value in runner.env.items() if key.startswith("GIT_CONFIG"))
    proc = subprocess.run(
        ["git", "credential", "fill"],
        input="protocol=http\nhost=gitbucket:8080\n\n",
        env=runner.env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"username=alice\npassword={PASSWORD}\n" in proc.stdout
    assert runner.scrub(f"x {PASSWORD} y") == "x *** y"


def test_no_environment_exits_2_listing_what_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([], {}) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    for name in ("DATA_REPO_URL", "MLFLOW_TRACKING_URI", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert name in captured.err
    assert "ERROR configuration" in captured.err


def test_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deploy"], BASE) == 2
    assert "unknown command 'deploy'" in capsys.readouterr().err
    assert main(["train", "promote"], BASE) == 2


def test_mlflow_down_fails_fast_before_anything_else(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**BASE, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}", "DATA_REPO_URL": "http://127.0.0.1:1/none.git"}
    started = time.monotonic()
    assert main(["train"], env) == 1
    assert time.monotonic() - started < 30
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "ERROR [mlflow]" in captured.err and "no answer from an MLflow server" in captured.err
    assert "ml-secret" not in captured.err and "s3-secret" not in captured.err
    assert "cloning" not in captured.err and "ls-remote" not in captured.err  # nothing else was tried
