"""The pipeline entrypoint against a real git server (smart HTTP + basic auth) and a real S3 server.

The entrypoint runs as a subprocess exactly as in its image (``python -m
de_datapreprocessing.entrypoint``, configured by environment only), with the
seeded repository's package on PYTHONPATH and dvc from this virtualenv.
Git: ``git http-backend`` behind basic auth (tests/support/git_http.py).
S3: the session MinIO container (conftest ``s3_server``), one new bucket per test.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.containers import S3Server, new_password
from tests.support.git_http import GitHttpServer, git_http_server

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2]
APP_REPO = PROJECT / "gitbucket_repos" / "de_datapreprocessing"
REPO_NAME = "de_datapreprocessing.git"
SEED_MESSAGE = "Initial import of de_datapreprocessing\n\nSeeded by the test."
TAG_RE = re.compile(r"^CV_(?P<message>[A-Za-z0-9._-]{1,100})_DV_(?P<time>\d{8}T\d{6}Z)(?:_(?P<n>[2-9]|[1-9]\d+))?$")
DATA_PATH = "data/processed/features.csv"
IGNORE = shutil.ignore_patterns(
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".hypothesis",
    ".ruff_cache",
    ".mypy_cache",
    "*.egg-info",
    "data",
    "build",
    "dist",
)


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"git {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout.strip()


def remote_refs(bare: Path) -> dict[str, str]:
    out = git("--git-dir", str(bare), "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ", 1) for line in out.splitlines())


@dataclass
class Remote:
    server: GitHttpServer
    bare: Path
    seed_commit: str
    author_env: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url(REPO_NAME)


@dataclass
class S3Bucket:
    name: str
    client: Any

    def keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return body


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def result(self) -> dict[str, str]:
        assert self.code == 0, f"entrypoint failed ({self.code}):\n{self.stderr}"
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"stdout must be exactly the JSON line, got {lines!r}"
        parsed: dict[str, str] = json.loads(lines[-1])
        return parsed


@pytest.fixture(scope="module")
def expected_data(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The job's output computed independently of the entrypoint (same code, default seed)."""
    out = tmp_path_factory.mktemp("expected") / "features.csv"
    subprocess.run(
        [sys.executable, "-m", "de_datapreprocessing.job", "--output", str(out)],
        env={**os.environ, "PYTHONPATH": str(APP_REPO)},
        capture_output=True,
        check=True,
    )
    return out.read_bytes()


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    """A bare repository holding the seeded app repo on main, served over authenticated HTTP."""
    root = tmp_path / "srv"
    bare = root / REPO_NAME
    git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    work = tmp_path / "seed"
    shutil.copytree(APP_REPO, work, ignore=IGNORE)
    author = {
        "GIT_AUTHOR_NAME": "dev",
        "GIT_AUTHOR_EMAIL": "dev@example.test",
        "GIT_COMMITTER_NAME": "dev",
        "GIT_COMMITTER_EMAIL": "dev@example.test",
        "HOME": str(tmp_path),
        "PATH": os.environ["PATH"],
    }
    git("init", "--quiet", "--initial-branch=main", cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", SEED_MESSAGE, cwd=work, env=author)
    git("push", "--quiet", str(bare), "main", cwd=work, env=author)
    with git_http_server(root, "mlops-ci", new_password()) as server:
        yield Remote(server, bare, git("rev-parse", "HEAD", cwd=work), author)


@pytest.fixture
def bucket(s3_server: S3Server) -> S3Bucket:
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint,
        aws_access_key_id=s3_server.root_user,
        aws_secret_access_key=s3_server.root_password,
        region_name="us-east-1",
    )
    name = f"de-preprocessing-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return S3Bucket(name, client)


def pipeline_env(remote: Remote, bucket: S3Bucket, s3: S3Server, home: Path, **overrides: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),  # no global git config: the entrypoint must bring everything
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": str(APP_REPO),  # the package as installed in the image
        "GIT_REPO_URL": remote.url,
        "GIT_USERNAME": remote.server.username,
        "GIT_PASSWORD": remote.server.password,
        "DVC_REMOTE_URL": f"s3://{bucket.name}/dvcstore",
        "DVC_S3_ENDPOINT_URL": s3.endpoint,
        "AWS_ACCESS_KEY_ID": s3.root_user,
        "AWS_SECRET_ACCESS_KEY": s3.root_password,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.update(overrides)
    return env


def run_entrypoint(env: dict[str, str]) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "de_datapreprocessing.entrypoint"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def assert_no_secret_leaked(run: Run, remote: Remote, s3: S3Server) -> None:
    for secret in (remote.server.password, s3.root_password):
        assert secret not in run.stdout and secret not in run.stderr
        assert all(secret not in request.target for request in remote.server.requests)


def test_pipeline_versions_data_tags_and_reruns_idempotently(
    remote: Remote, bucket: S3Bucket, s3_server: S3Server, expected_data: bytes, tmp_path: Path
) -> None:
    env = pipeline_env(remote, bucket, s3_server, tmp_path / "home")
    before = datetime.now(UTC).replace(microsecond=0)
    first = run_entrypoint(env)
    result = first.result()
    after = datetime.now(UTC)
    assert_no_secret_leaked(first, remote, s3_server)

    # Credentials went over HTTP basic auth: refused without, accepted with, for fetch and push.
    requests = remote.server.requests
    assert any(r.status == 401 for r in requests)
    assert any(r.user == "mlops-ci" and "git-upload-pack" in r.target for r in requests)
    assert any(r.user == "mlops-ci" and "git-receive-pack" in r.target and r.method == "POST" for r in requests)

    # Data: md5 of the job's output, stored content-addressed in the bucket.
    md5 = hashlib.md5(expected_data, usedforsecurity=False).hexdigest()
    assert result["data_md5"] == md5
    keys = bucket.keys()
    data_key = f"dvcstore/files/md5/{md5[:2]}/{md5[2:]}"
    assert data_key in keys
    assert bucket.read(data_key) == expected_data

    # Tag: documented shape, code commit's subject, time the data was produced.
    tag = result["tag"]
    match = TAG_RE.match(tag)
    assert match, tag
    assert match["message"] == "Initial-import-of-de_datapreprocessing"
    produced = datetime.strptime(match["time"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before <= produced <= after
    assert result["produced_at"] == produced.strftime("%Y-%m-%dT%H:%M:%SZ")

    # Git: main fast-forwarded to one data commit on top of the code; annotated tag on it.
    refs = remote_refs(remote.bare)
    commit = result["commit"]
    assert refs["refs/heads/main"] == commit
    assert result["code_commit"] == remote.seed_commit and result["branch"] == "main"
    bare = ["--git-dir", str(remote.bare)]
    assert git(*bare, "rev-parse", f"{commit}^") == remote.seed_commit
    assert git(*bare, "cat-file", "-t", f"refs/tags/{tag}") == "tag"
    assert git(*bare, "rev-parse", f"refs/tags/{tag}^{{commit}}") == commit
    assert git(*bare, "log", "-1", "--format=%an", commit) == "mlops-pipeline"
    files = set(git(*bare, "ls-tree", "-r", "--name-only", commit).splitlines())
    assert {f"{DATA_PATH}.dvc", "data/processed/.gitignore", ".dvc/config"} <= files
    assert DATA_PATH not in files and ".dvc/config.local" not in files
    committed_config = git(*bare, "show", f"{commit}:.dvc/config")
    assert f"s3://{bucket.name}/dvcstore" in committed_config
    assert s3_server.root_password not in committed_config and s3_server.root_user not in committed_config
    assert md5 in git(*bare, "show", f"{commit}:{DATA_PATH}.dvc")

    # A fresh clone at the tag + dvc pull (credentials and endpoint from env only) restores the bytes.
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--branch", tag, str(remote.bare), str(clone), env=remote.author_env)
    pull_env = {**env, "AWS_ENDPOINT_URL": s3_server.endpoint, "DVC_NO_ANALYTICS": "1"}
    pull = subprocess.run(
        [sys.executable, "-m", "dvc", "pull"],
        cwd=clone,
        env=pull_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert pull.returncode == 0, pull.stderr + pull.stdout
    assert (clone / DATA_PATH).read_bytes() == expected_data

    # Second run, unchanged code: no new object, no new commit, a distinct tag on the same commit.
    second = run_entrypoint(env).result()
    assert bucket.keys() == keys
    assert second["data_md5"] == md5
    assert second["commit"] == commit and second["tag"] != tag
    assert TAG_RE.match(second["tag"])
    refs = remote_refs(remote.bare)
    assert refs["refs/heads/main"] == commit
    assert {f"refs/tags/{tag}", f"refs/tags/{second['tag']}"} <= refs.keys()
    assert git(*bare, "rev-parse", f"refs/tags/{second['tag']}^{{commit}}") == commit

    # New code lands on main; running the OLD code ref puts its data commit on data/<sha12>, main untouched.
    work = tmp_path / "dev"
    git("clone", "--quiet", str(remote.bare), str(work), env=remote.author_env)
    (work / "NOTES.md").write_text("A code change after the first data version.\n")
    git("add", "NOTES.md", cwd=work)
    git("commit", "--quiet", "-m", "Add notes", cwd=work, env=remote.author_env)
    git("push", "--quiet", "origin", "main", cwd=work, env=remote.author_env)
    new_head = git("rev-parse", "HEAD", cwd=work)
    old = run_entrypoint({**env, "CODE_REF": remote.seed_commit}).result()
    data_branch = f"data/{remote.seed_commit[:12]}"
    assert old["branch"] == data_branch and old["code_commit"] == remote.seed_commit
    refs = remote_refs(remote.bare)
    assert refs["refs/heads/main"] == new_head
    assert refs[f"refs/heads/{data_branch}"] == old["commit"]
    assert git(*bare, "rev-parse", f"{old['commit']}^") == remote.seed_commit
    match = TAG_RE.match(old["tag"])
    assert match and match["message"] == "Initial-import-of-de_datapreprocessing"
    assert bucket.keys() == keys, "same code, same data: nothing new in the bucket"

    # The head's code commit is now "Add notes" (made on top of the data commit, so the pointer is
    # already there): a default run tags that commit with its subject and adds no commit.
    latest = run_entrypoint(env).result()
    assert latest["branch"] == "main" and latest["code_commit"] == new_head
    assert latest["tag"].startswith("CV_Add-notes_DV_")
    assert latest["commit"] == new_head == remote_refs(remote.bare)["refs/heads/main"]
    assert git(*bare, "rev-parse", f"refs/tags/{latest['tag']}^{{commit}}") == new_head


def test_bad_code_ref_fails_clearly_and_pushes_nothing(
    remote: Remote, bucket: S3Bucket, s3_server: S3Server, tmp_path: Path
) -> None:
    refs = remote_refs(remote.bare)
    run = run_entrypoint(pipeline_env(remote, bucket, s3_server, tmp_path / "home", CODE_REF="no-such-ref"))
    assert run.code == 1
    assert "CODE_REF" in run.stderr and "'no-such-ref'" in run.stderr
    assert run.stdout == ""
    assert remote_refs(remote.bare) == refs
    assert bucket.keys() == []
    assert_no_secret_leaked(run, remote, s3_server)


def test_wrong_git_password_is_reported_as_an_authentication_failure(
    remote: Remote, bucket: S3Bucket, s3_server: S3Server, tmp_path: Path
) -> None:
    wrong = "wrong-" + new_password()
    run = run_entrypoint(pipeline_env(remote, bucket, s3_server, tmp_path / "home", GIT_PASSWORD=wrong))
    assert run.code == 1
    assert "[git clone]" in run.stderr and "authentication" in run.stderr
    assert wrong not in run.stderr and wrong not in run.stdout
    assert all(r.user is None for r in remote.server.requests)
    assert bucket.keys() == []


def test_unreachable_s3_fails_before_anything_reaches_git(
    remote: Remote, bucket: S3Bucket, s3_server: S3Server, tmp_path: Path
) -> None:
    refs = remote_refs(remote.bare)
    env = pipeline_env(
        remote, bucket, s3_server, tmp_path / "home", DVC_S3_ENDPOINT_URL="http://127.0.0.1:9", AWS_MAX_ATTEMPTS="2"
    )
    started = datetime.now(UTC)
    run = run_entrypoint(env)
    assert run.code == 1
    assert "[dvc push]" in run.stderr and "could not upload the data" in run.stderr
    assert "http://127.0.0.1:9" in run.stderr
    assert remote_refs(remote.bare) == refs
    assert datetime.now(UTC) - started < timedelta(minutes=3)
