"""Entrypoint pieces that need no server: configuration, credential helper, error wording."""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import sys
from pathlib import Path

import pytest

from de_datapreprocessing.entrypoint import (
    Config,
    ConfigError,
    JobSandbox,
    PipelineError,
    Result,
    Runner,
    copy_job_output,
    dvc_file_md5,
    is_branch_name,
    job_environment,
    redact_url,
    resolve_job_user,
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


def test_the_job_environment_is_an_allowlist(tmp_path: Path) -> None:
    base = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "DATA_SEED": "7",
        "GIT_REPO_URL": "http://bob:hunter2@h/x.git",
        "GIT_PASSWORD": "hunter2",
        "AWS_SECRET_ACCESS_KEY": "s3cret",
        "AWS_ACCESS_KEY_ID": "k",
        "https_proxy": "http://u:pw@proxy:3128",
        "DVC_REMOTE_URL": "s3://b/p",
        "PYTHONPATH": "/elsewhere",
    }
    env = job_environment(base, tmp_path / "work", tmp_path / "home")
    assert env == {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "DATA_SEED": "7",
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "home"),
        "PYTHONPATH": str(tmp_path / "work"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LC_ALL": "C",
    }


def test_job_isolation_settings() -> None:
    assert (Config.from_env(BASE).job_isolation, Config.from_env(BASE).job_user) == ("user", "job")
    assert Config.from_env({**BASE, "JOB_ISOLATION": "none"}).job_isolation == "none"
    with pytest.raises(ConfigError, match="JOB_ISOLATION"):
        Config.from_env({**BASE, "JOB_ISOLATION": "off"})
    assert resolve_job_user(Config.from_env({**BASE, "JOB_ISOLATION": "none"})) is None
    with pytest.raises(ConfigError, match="not a user"):
        resolve_job_user(Config.from_env({**BASE, "JOB_USER": "no-such-user-de-preprocessing"}))
    with pytest.raises(ConfigError, match="root"):
        resolve_job_user(Config.from_env({**BASE, "JOB_USER": "root"}))


def test_job_isolation_needs_root_to_switch_users(monkeypatch: pytest.MonkeyPatch) -> None:
    if not _has_uid(65534):
        pytest.skip("no user with uid 65534 (nobody) here")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ConfigError, match="start as root"):
        resolve_job_user(Config.from_env({**BASE, "JOB_USER": "65534"}))


def _has_uid(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _sandbox(tmp_path: Path) -> tuple[Path, Path]:
    work, repo = tmp_path / "work", tmp_path / "repo"
    (work / "data" / "processed").mkdir(parents=True)
    (repo / "data").mkdir(parents=True)
    return work, repo


def test_the_job_output_is_copied_into_the_clone(tmp_path: Path) -> None:
    work, repo = _sandbox(tmp_path)
    (work / "data" / "processed" / "f.csv").write_bytes(b"a,b\n1,2\n")
    (repo / "data" / "processed").mkdir()
    (repo / "data" / "processed" / "f.csv").symlink_to(tmp_path / "victim")  # committed symlink: replaced
    copy_job_output(work, repo, "data/processed/f.csv")
    target = repo / "data" / "processed" / "f.csv"
    assert not target.is_symlink() and target.read_bytes() == b"a,b\n1,2\n"
    assert not (tmp_path / "victim").exists()


@pytest.mark.parametrize("kind", ["missing", "file-symlink", "dir-symlink", "hardlink", "fifo"])
def test_the_job_output_is_never_followed_out_of_the_sandbox(tmp_path: Path, kind: str) -> None:
    work, repo = _sandbox(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text("GIT_PASSWORD=hunter2")
    output = work / "data" / "processed" / "f.csv"
    if kind == "file-symlink":
        output.symlink_to(secret)
    elif kind == "dir-symlink":
        (work / "data" / "processed").rmdir()
        (work / "data" / "processed").symlink_to(tmp_path)
        (tmp_path / "f.csv").write_text("GIT_PASSWORD=hunter2")
    elif kind == "hardlink":
        os.link(secret, output)
    elif kind == "fifo":
        os.mkfifo(output)
    with pytest.raises(PipelineError) as error:
        copy_job_output(work, repo, "data/processed/f.csv")
    assert error.value.step == "job"
    assert not (repo / "data" / "processed" / "f.csv").exists()


def test_the_output_is_not_written_through_a_symlinked_directory_of_the_clone(tmp_path: Path) -> None:
    work, repo = _sandbox(tmp_path)
    (work / "data" / "processed" / "f.csv").write_text("x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / "data" / "processed").symlink_to(elsewhere)
    with pytest.raises(PipelineError, match="cannot write"):
        copy_job_output(work, repo, "data/processed/f.csv")
    assert list(elsewhere.iterdir()) == []


def test_the_job_runs_in_a_copy_without_git_and_gets_no_secrets(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "config").write_text("[core]\n")
    (repo / "pkg").mkdir()
    (repo / "pkg" / "code.py").write_text("x = 1\n")
    config = Config.from_env({**BASE, "GIT_PASSWORD": "hunter2", "JOB_ISOLATION": "none"})
    runner = Runner(config, {"PATH": "/usr/bin:/bin", "AWS_SECRET_ACCESS_KEY": "s3cret", "DATA_ROWS": "5"})
    sandbox = JobSandbox.create(repo, None)
    script = 'env > env.txt; ls -A > ls.txt; test ! -e .git; echo "said $GIT_PASSWORD s3cret" >&2'
    try:
        runner.job(["sh", "-c", script], sandbox, None)
        env = (sandbox.work / "env.txt").read_text()
        assert "DATA_ROWS=5" in env and "hunter2" not in env and "s3cret" not in env and "GIT_" not in env
        assert (sandbox.work / "ls.txt").read_text().split() == ["env.txt", "ls.txt", "pkg"]
    finally:
        sandbox.remove()
    assert not sandbox.root.exists()


# Runs in a process whose starting environment holds PARENT_SECRET (as the entrypoint's holds
# the credentials) and starts argv[2] through Runner.job as uid 65534.
_RUN_JOB_AS_NOBODY = """
import os, sys
from pathlib import Path
from de_datapreprocessing.entrypoint import Config, JobSandbox, PipelineError, Runner, resolve_job_user
repo = Path(sys.argv[1]) / "repo"
repo.mkdir()
config = Config.from_env({"GIT_REPO_URL": "http://h/x.git", "DVC_REMOTE_URL": "s3://b/p", "JOB_USER": "65534"})
user = resolve_job_user(config)
sandbox = JobSandbox.create(repo, user)
try:
    Runner(config, dict(os.environ)).job(["sh", "-c", sys.argv[2]], sandbox, user)
except PipelineError as error:
    print("job failed:", error.message)
finally:
    sandbox.remove()
"""


@pytest.mark.skipif(os.geteuid() != 0 or not _has_uid(65534), reason="needs root and a user with uid 65534")
def test_as_another_user_the_job_cannot_read_the_entrypoints_environment(tmp_path: Path) -> None:
    """Issue 10, item 8, one level down: the process that starts the job has a secret in the
    environment it started with (the kernel keeps that copy in /proc/<pid>/environ); the job,
    as another uid, without groups and with no_new_privs, can neither read it nor ptrace."""
    secret = "env-secret-" + os.urandom(8).hex()
    probe = (
        "grep -E '^(Uid|Gid|Groups|NoNewPrivs):' /proc/self/status; "
        "cat /proc/$PPID/environ; echo; cat /proc/1/environ; echo; ls /proc/$PPID/cwd/; echo probe-done"
    )
    child = subprocess.run(
        [sys.executable, "-c", _RUN_JOB_AS_NOBODY, str(tmp_path), probe],
        env={**os.environ, "PARENT_SECRET": secret, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = child.stdout + child.stderr
    assert child.returncode == 0 and "probe-done" in output, output
    assert secret not in output
    assert re.search(r"^\s*Uid:\s+65534\s+65534\s+65534\s+65534$", output, re.MULTILINE), output
    assert re.search(r"^\s*Groups:\s*$", output, re.MULTILINE), output
    assert re.search(r"^\s*NoNewPrivs:\s+1$", output, re.MULTILINE), output
    assert output.count("Permission denied") >= 2, output


@pytest.mark.parametrize("branch", ["main^{/x}", "a..b", "a b", "x.lock", "-x", "a//b", "a/", ".hidden", "a@{1}"])
def test_a_branch_git_would_refuse_fails_before_anything_runs(branch: str) -> None:
    assert not is_branch_name(branch)
    with pytest.raises(ConfigError, match="is not a branch name git accepts"):
        Config.from_env({**BASE, "GIT_BRANCH": branch})
    check = subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True, timeout=30)
    assert check.returncode != 0, branch


@pytest.mark.parametrize("branch", ["main", "data/0123456789ab", "feature/x-1", "release-1.2", "e2e-snoop"])
def test_ordinary_branch_names_pass(branch: str) -> None:
    assert is_branch_name(branch)
    check = subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True, timeout=30)
    assert check.returncode == 0
