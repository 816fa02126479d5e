"""The pipeline entrypoint against a real git server (smart HTTP + basic auth) and a real S3 server.

The entrypoint runs as a subprocess as in its image (``python -m
de_datapreprocessing.entrypoint``, configured by environment only), with the
seeded repository's package on PYTHONPATH and dvc from this virtualenv, and with
JOB_ISOLATION=none: this machine has no user for the job (and this virtualenv's
Python may not be executable by one). The isolation of the job from the
credentials is tested in the real image (the last tests: the image is built from
the seeded repo, cached by content, and run the way the DAG's DockerOperator runs it).
Git: ``git http-backend`` behind basic auth (tests/support/git_http.py).
S3: the session MinIO container (conftest ``s3_server``), one new bucket per test.
"""

from __future__ import annotations

import base64
import contextlib
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
import docker.errors
import pytest

from tests.support.containers import S3Server, docker_client, new_password, running, unavailable
from tests.support.git_http import GitHttpServer, git_http_server
from tests.support.snoop_job import SNOOP_JOB

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
        "JOB_ISOLATION": "none",  # see the module's docstring
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


# --------------------------------------------------------------------------------------------
# The pipeline image: the job (code from the repository, at any commit) runs in the real image,
# as the Airflow DAG starts it, and must not obtain the credentials the entrypoint holds.

IMAGE_TAG = "mlops-local/de_datapreprocessing:test"
IMAGE_HASH_LABEL = "org.mlops-local.test-build-hash"
BASE_IMAGE = os.environ.get("MLOPS_TEST_DEBIAN_IMAGE", "mlops-local/debian:bookworm")


# A top-level package named like the tool the entrypoint runs with the credentials: it must
# never be imported in place of the real dvc.
SHADOW_DVC = """import json, os, sys
names = ("GIT_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
sys.stderr.write("SHADOW-DVC " + json.dumps({n: os.environ.get(n, "") for n in names}).encode().hex() + "\\n")
sys.exit(97)
"""


def _host_ca_bundle() -> Path:
    for name in (os.environ.get("PIP_CERT"), os.environ.get("REQUESTS_CA_BUNDLE"), os.environ.get("SSL_CERT_FILE")):
        if name and Path(name).is_file():
            return Path(name)
    return Path("/etc/ssl/certs/ca-certificates.crt")


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        digest.update(f"{path.relative_to(root)} {path.stat().st_mode & 0o777:o}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def pipeline_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Id of the runtime image built from the seeded repo (cached by content under IMAGE_TAG).

    Built like the Jenkinsfile does offline: Debian base, the host's CA bundle for pip, the
    host network for RUN steps. MLOPS_TEST_PIPELINE_IMAGE names a prebuilt image instead.
    """
    client = docker_client()
    prebuilt = os.environ.get("MLOPS_TEST_PIPELINE_IMAGE")
    if prebuilt:
        try:
            return str(client.images.get(prebuilt).id)
        except docker.errors.ImageNotFound:
            unavailable(f"MLOPS_TEST_PIPELINE_IMAGE={prebuilt} is not an image of this engine")
            raise
    try:
        base_id = client.images.get(BASE_IMAGE).id
    except docker.errors.ImageNotFound:
        unavailable(f"image {BASE_IMAGE} is missing; run offline/build-images.sh")
        raise
    context = tmp_path_factory.mktemp("image") / "context"
    shutil.copytree(APP_REPO, context, ignore=IGNORE)
    shutil.copyfile(_host_ca_bundle(), context / "ca-bundle.crt")
    buildargs = {"BASE_IMAGE": BASE_IMAGE, "CA_BUNDLE": "ca-bundle.crt"}
    for name in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"):
        if os.environ.get(name):
            buildargs[name] = os.environ[name]
    wanted = hashlib.sha256(
        f"{base_id} {json.dumps(buildargs, sort_keys=True)} {_tree_hash(context)}".encode()
    ).hexdigest()[:16]
    old_id = None
    try:
        current = client.images.get(IMAGE_TAG)
        if current.labels.get(IMAGE_HASH_LABEL) == wanted:
            return str(current.id)
        old_id = current.id
    except docker.errors.ImageNotFound:
        pass
    try:
        image, _ = client.images.build(
            path=str(context),
            tag=IMAGE_TAG,
            target="runtime",
            buildargs=buildargs,
            labels={IMAGE_HASH_LABEL: wanted, "mlops.test": "true"},
            network_mode="host",
            rm=True,
            forcerm=True,
            timeout=3600,
        )
    except docker.errors.BuildError as error:
        log = "".join(str(chunk.get("stream") or chunk.get("error") or "") for chunk in error.build_log)
        pytest.fail(f"building the pipeline image failed: {error}\n{log[-6000:]}")
    if old_id and old_id != image.id:
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(old_id)
    return str(image.id)


def container_env(remote: Remote, bucket: S3Bucket, s3: S3Server, **overrides: str) -> dict[str, str]:
    """What the DAG's DockerOperator hands the container: environment + private environment."""
    env = {
        "GIT_REPO_URL": remote.url,
        "GIT_USERNAME": remote.server.username,
        "DVC_S3_ENDPOINT_URL": s3.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "CODE_REF": "",
        "GIT_BRANCH": "main",
        "DVC_REMOTE_URL": f"s3://{bucket.name}/dvcstore",
        # private_environment
        "GIT_PASSWORD": remote.server.password,
        "AWS_ACCESS_KEY_ID": s3.root_user,
        "AWS_SECRET_ACCESS_KEY": s3.root_password,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    env.update(overrides)
    return env


def run_image(image: str, env: dict[str, str]) -> Run:
    """The image as DockerOperator runs it (its own entrypoint and user), on the host's network
    so that the git server and S3 on 127.0.0.1 are reachable."""
    client = docker_client()
    with running(client, image, environment=env, network_mode="host") as container:
        code = int(container.wait(timeout=600)["StatusCode"])
        stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
    return Run(code, stdout, stderr)


def push_change(remote: Remote, work: Path, files: dict[str, str], message: str) -> str:
    git("clone", "--quiet", str(remote.bare), str(work), env=remote.author_env)
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "--quiet", "-m", message, cwd=work, env=remote.author_env)
    git("push", "--quiet", "origin", "main", cwd=work, env=remote.author_env)
    return git("rev-parse", "HEAD", cwd=work)


def secrets_of(remote: Remote, s3: S3Server) -> dict[str, str]:
    return {
        "GIT_PASSWORD": remote.server.password,
        "AWS_SECRET_ACCESS_KEY": s3.root_password,
        "AWS_ACCESS_KEY_ID": s3.root_user,
    }


def test_in_the_image_the_job_cannot_read_the_entrypoints_credentials(
    pipeline_image: str, remote: Remote, bucket: S3Bucket, s3_server: S3Server, tmp_path: Path
) -> None:
    push_change(remote, tmp_path / "dev", {"de_datapreprocessing/job.py": SNOOP_JOB}, "Job that snoops")
    run = run_image(pipeline_image, container_env(remote, bucket, s3_server))
    result = run.result()
    assert_no_secret_leaked(run, remote, s3_server)
    assert "snoop: " in run.stderr, "the snooping job did not run"

    report = bucket.read(f"dvcstore/files/md5/{result['data_md5'][:2]}/{result['data_md5'][2:]}")
    records = [json.loads(line) for line in report.decode().splitlines()]
    by_source = {r["source"]: r for r in records}
    leaks = sorted(
        {
            f"{name} via {r['source']}"
            for r in records
            for name, secret in secrets_of(remote, s3_server).items()
            if secret.encode() in base64.b64decode(r["data"])
        }
    )
    assert not leaks, f"the job obtained the credentials: {leaks}"

    # The job really tried, and was refused for the reason the fix gives: another uid.
    identity = json.loads(base64.b64decode(by_source["identity"]["data"]))
    parent = str(identity["ppid"])
    for path in ("/proc/1/environ", f"/proc/{parent}/environ"):
        assert not by_source[path]["ok"], f"{path} was readable"
    for pid in ("1", parent):
        assert not by_source[f"ptrace:{pid}"]["ok"], f"the job could ptrace pid {pid}"
    status = base64.b64decode(by_source["/proc/1/status"]["data"]).decode()
    uid_line = re.search(r"^Uid:\s+(.*)$", status, re.MULTILINE)
    assert uid_line, status
    entrypoint_uids = {int(u) for u in uid_line[1].split()}
    assert identity["uid"] != 0 and identity["euid"] != 0 and 0 not in identity["groups"]
    assert identity["uid"] not in entrypoint_uids, (identity, entrypoint_uids)
    cmdline = base64.b64decode(by_source["/proc/1/cmdline"]["data"])
    assert b"de_datapreprocessing.entrypoint" in cmdline

    # The credentials were used all the same: data in the bucket, branch and tag on the server.
    refs = remote_refs(remote.bare)
    assert refs["refs/heads/main"] == result["commit"]
    assert f"refs/tags/{result['tag']}" in refs


def test_in_the_image_repository_code_cannot_stand_in_for_the_tools_that_hold_credentials(
    pipeline_image: str,
    remote: Remote,
    bucket: S3Bucket,
    s3_server: S3Server,
    expected_data: bytes,
    tmp_path: Path,
) -> None:
    push_change(remote, tmp_path / "dev", {"dvc/__init__.py": SHADOW_DVC}, "A package named dvc")
    run = run_image(pipeline_image, container_env(remote, bucket, s3_server))
    assert "SHADOW-DVC" not in run.stderr, "the repository's dvc/ package ran where dvc holds the credentials"
    result = run.result()
    assert_no_secret_leaked(run, remote, s3_server)
    # The real job, run as its own user in the image, produced the same bytes as on the host.
    assert result["data_md5"] == hashlib.md5(expected_data, usedforsecurity=False).hexdigest()
    assert bucket.read(f"dvcstore/files/md5/{result['data_md5'][:2]}/{result['data_md5'][2:]}") == expected_data
