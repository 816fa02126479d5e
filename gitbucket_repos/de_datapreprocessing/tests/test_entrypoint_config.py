"""Entrypoint pieces that need no server: configuration, credential helper, error wording."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from de_datapreprocessing.entrypoint import (
    Config,
    ConfigError,
    PipelineError,
    Result,
    Runner,
    dvc_file_md5,
    redact_url,
)

BASE = {
    "GIT_REPO_URL": "http://gitbucket:8080/git/root/de_datapreprocessing.git",
    "DVC_REMOTE_URL": "s3://de-datapreprocessing/dvcstore",
}
PASSWORD = "p@ss w\\rd $HOME `x` 'q\" -n"


def test_defaults() -> None:
    config = Config.from_env(BASE)
    assert (config.branch, config.code_ref, config.remote_name) == ("main", "", "storage")
    assert (config.author_name, config.author_email) == ("mlops-pipeline", "mlops-pipeline@localhost")
    assert config.s3_endpoint == "" and config.work_dir is None


def test_endpoint_prefers_dvc_variable() -> None:
    env = {**BASE, "AWS_ENDPOINT_URL": "http://a:9000"}
    assert Config.from_env(env).s3_endpoint == "http://a:9000"
    assert Config.from_env({**env, "DVC_S3_ENDPOINT_URL": "http://b:9000"}).s3_endpoint == "http://b:9000"


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        Config.from_env({"CODE_REF": "--upload-pack=evil", "DVC_REMOTE_NAME": "a b"})
    text = str(error.value)
    for part in ("GIT_REPO_URL", "DVC_REMOTE_URL", "CODE_REF", "DVC_REMOTE_NAME"):
        assert part in text


def test_credentials_in_the_url_are_moved_out_of_it() -> None:
    config = Config.from_env({**BASE, "GIT_REPO_URL": "http://bob:s%40cret@git.local:8080/x.git"})
    assert config.repo_url == "http://git.local:8080/x.git"
    assert (config.username, config.password) == ("bob", "s@cret")
    explicit = Config.from_env({**BASE, "GIT_REPO_URL": "http://bob:url@h/x.git", "GIT_PASSWORD": "env"})
    assert explicit.password == "env"


def test_redact_url() -> None:
    assert redact_url("https://u:p@h:1/p?q") == "https://h:1/p?q"
    assert redact_url("file:///srv/x.git") == "file:///srv/x.git"


def test_credential_helper_hands_env_credentials_to_git(tmp_path: Path) -> None:
    config = Config.from_env({**BASE, "GIT_USERNAME": "alice", "GIT_PASSWORD": PASSWORD})
    runner = Runner(config, {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
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


def test_errors_name_the_failure_and_hide_the_password() -> None:
    config = Config.from_env({**BASE, "GIT_USERNAME": "alice", "GIT_PASSWORD": "hunter2"})
    runner = Runner(config, {"PATH": "/usr/bin:/bin"})
    with pytest.raises(PipelineError) as error:
        runner.run(["sh", "-c", "echo 'fatal: Authentication failed for hunter2' >&2; exit 128"], None, "git clone")
    assert error.value.step == "git clone"
    assert "authentication" in error.value.message and "hunter2" not in str(error.value)
    footer = "echo 'ERROR: failed to push data to the cloud' >&2; echo 'Having any troubles? Ask.' >&2; exit 1"
    with pytest.raises(PipelineError, match="could not upload the data to s3://de-datapreprocessing") as error:
        runner.run(["sh", "-c", footer], None, "dvc push")
    assert error.value.message.endswith("ERROR: failed to push data to the cloud")


def test_dvc_file_md5(tmp_path: Path) -> None:
    pointer = tmp_path / "f.csv.dvc"
    pointer.write_text("outs:\n- md5: a19b587d0663da8d24ff70fac201a2c5\n  size: 3\n  hash: md5\n  path: f.csv\n")
    assert dvc_file_md5(pointer) == "a19b587d0663da8d24ff70fac201a2c5"


def test_result_is_one_json_line() -> None:
    line = Result("t", "m", "c", "cc", "main", "2025-01-01T00:00:00Z", "s3://b/p").to_json()
    assert "\n" not in line and line.startswith("{") and '"tag": "t"' in line


def test_the_job_process_gets_no_secrets() -> None:
    config = Config.from_env({**BASE, "GIT_USERNAME": "alice", "GIT_PASSWORD": "hunter2"})
    runner = Runner(config, {"PATH": "/usr/bin:/bin", "AWS_SECRET_ACCESS_KEY": "s3cret", "AWS_ACCESS_KEY_ID": "k"})
    dump = "env -0"
    with_secrets = runner.run(["sh", "-c", dump], None, "git x").stdout
    without = runner.run(["sh", "-c", dump], None, "job", with_secrets=False).stdout
    assert "hunter2" in with_secrets and "s3cret" in with_secrets
    assert "hunter2" not in without and "s3cret" not in without and "GIT_CONFIG" not in without
    assert "GIT_AUTHOR_NAME=mlops-pipeline" in without
