"""The Jenkinsfile stand-in itself: the tests that use it rely on these behaviours of Jenkins."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import docker.errors
import pytest

from tests.support.containers import docker_client, unavailable
from tests.support.jenkins_standin import run_jenkinsfile

pytestmark = pytest.mark.integration

PIPELINE = """
pipeline {
  agent any
  options { timeout(time: 5, unit: 'MINUTES') }
  environment {
    TARGET = "${env.REGISTRY ?: 'localhost:5000'}/app"
    COPY = "${env.TARGET}-copy"
  }
  stages {
    stage('Show') {
      steps {
        sh 'echo "target=$TARGET copy=$COPY"'
        script {
          if (env.LOGIN == 'true') {
            withCredentials([usernamePassword(credentialsId: 'registry',
                usernameVariable: 'U', passwordVariable: 'P')]) {
              sh '''#!/bin/sh
                echo "user=$U password-length=${#P}"
              '''
            }
          }
        }
      }
    }
    stage('Fail') {
      when { expression { env.FAIL == 'true' } }
      steps { sh 'false; echo never-printed' }
    }
    stage('Main only') {
      when { anyOf { branch 'main'; branch 'release/*' } }
      steps { echo 'on a release branch' }
    }
  }
  post {
    always { echo 'post always' }
    failure { echo 'post failure' }
  }
}
"""


def build(tmp_path: Path, env: dict[str, str], text: str = PIPELINE) -> tuple[int, str]:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    (workspace / "Jenkinsfile").write_text(text)
    result = run_jenkinsfile(workspace, env, credentials={"registry": {"username": "bot", "password": "s3cret"}})
    return result.returncode, result.stdout + result.stderr


def test_environment_credentials_and_conditions(tmp_path: Path) -> None:
    status, output = build(tmp_path, {"REGISTRY": "r.example.com", "LOGIN": "true", "BRANCH_NAME": "release/1.0"})
    assert status == 0 and "Finished: SUCCESS" in output, output
    assert "target=r.example.com/app copy=r.example.com/app-copy" in output
    assert "user=bot password-length=6" in output
    assert "stage 'Fail': skipped by its when condition" in output
    assert "on a release branch" in output and "post always" in output and "post failure" not in output


def test_a_failing_step_fails_the_build_and_skips_the_rest(tmp_path: Path) -> None:
    status, output = build(tmp_path, {"FAIL": "true", "BRANCH_NAME": "main"})
    assert status == 1 and "Finished: FAILURE" in output
    assert "never-printed" not in output  # `sh -xe`, as Jenkins runs a script without #!
    assert "stage 'Main only': skipped" in output
    assert "post always" in output and "post failure" in output
    assert "target=localhost:5000/app" in output


def test_an_unknown_step_is_named(tmp_path: Path) -> None:
    text = PIPELINE.replace("echo 'on a release branch'", "slackSend 'hi'")
    status, output = build(tmp_path, {"BRANCH_NAME": "main"}, text)
    assert status != 0 and "slackSend" in output


STEP_RESULTS = """
pipeline {
  agent any
  environment { FIXED = 'from-directive' }
  stages {
    stage('Read') {
      steps {
        script {
          String out = sh(returnStdout: true, script: 'echo "  out-$FIXED  "; echo to-the-log >&2')
          env.CAPTURED = out.trim()
          env.FIXED = 'from-assignment'
          env.NUMBER = 42
          int status = sh(returnStatus: true, script: 'exit 3')
          echo "status=${status} captured=[${env.CAPTURED}] fixed=${env.FIXED} number=${env.NUMBER}"
        }
      }
    }
    stage('Later') {
      when { expression { env.CAPTURED == 'out-from-directive' } }
      steps { sh 'echo "later: captured=$CAPTURED fixed=$FIXED number=$NUMBER"' }
    }
    stage('Both conditions') {
      when { expression { env.CAPTURED != null }; branch 'release/*' }
      steps { echo 'both-held' }
    }
    stage('Fails') {
      steps { script { sh(returnStdout: true, script: 'echo partial-output; exit 4') } }
    }
  }
}
"""


def test_step_results_and_env_assignments_follow_declarative(tmp_path: Path) -> None:
    status, output = build(tmp_path, {"BRANCH_NAME": "main"}, STEP_RESULTS)
    # returnStdout: stdout returned untrimmed, not logged; stderr logged. returnStatus: no failure.
    # env.X = v: String.valueOf(v) for later stages and processes; the directive's value wins.
    assert "status=3 captured=[out-from-directive] fixed=from-directive number=42" in output, output
    assert "\n  out-from-directive  \n" not in output and "\nto-the-log\n" in output  # (`sh -x` traces both)
    assert "later: captured=out-from-directive fixed=from-directive number=42" in output
    assert "stage 'Both conditions': skipped by its when condition" in output  # all must hold
    # A failing returnStdout script fails the step, its output shown as a diagnostic.
    assert "partial-output" in output and "script returned exit code 4" in output
    assert status == 1 and "Finished: FAILURE" in output


# ----------------------------------------------------------------------------------------
# The repos' Jenkinsfiles on a commit of the data pipeline: no build, in seconds.

REPOS = Path(__file__).resolve().parents[2] / "gitbucket_repos"
JENKINSFILES = {repo: REPOS / repo / "Jenkinsfile" for repo in ("de_datapreprocessing", "ds_mlmodeling")}
BUILD_STAGES = ("Prepare", "Unit tests", "Build image", "Push")
BASE_IMAGE = os.environ.get("MLOPS_TEST_DEBIAN_IMAGE", "mlops-local/debian:bookworm")
# Stands in for the repo's Dockerfile: its two targets, and the python the Build stage runs.
DOCKERFILE = """ARG BASE_IMAGE
FROM ${BASE_IMAGE} AS test
RUN echo "unit tests of the stand-in repo"
FROM ${BASE_IMAGE} AS runtime
ARG GIT_COMMIT
RUN mkdir -p /opt/venv/bin && printf '#!/bin/sh\\necho image ok\\n' > /opt/venv/bin/python \\
 && chmod +x /opt/venv/bin/python
"""
# As the de_datapreprocessing entrypoint writes it (trailers in the last paragraph).
DATA_MESSAGE = """data: data.csv md5 0123456789abcdef0123456789abcdef

Produced at 2026-08-20T10:00:00+00:00 by the de_datapreprocessing pipeline
from code commit {code} (Add the job).

Code-Commit: {code}
Data-Md5: 0123456789abcdef0123456789abcdef
Data-Pipeline: de_datapreprocessing
"""


def git(workspace: Path, *args: str) -> str:
    identity = ["-c", "user.name=stand-in", "-c", "user.email=stand-in@localhost", "-c", "commit.gpgsign=false"]
    result = subprocess.run(
        ["git", *identity, *args], cwd=workspace, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def checkout(tmp_path: Path, repo: str) -> tuple[Path, str]:
    """A checkout as the multibranch job makes it: the repo's Jenkinsfile in a code commit."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    shutil.copy(JENKINSFILES[repo], workspace / "Jenkinsfile")
    (workspace / "Dockerfile").write_text(DOCKERFILE)
    (workspace / ".dockerignore").write_text(".git\n")
    git(workspace, "init", "--quiet", "--initial-branch=main")
    git(workspace, "add", "-A")
    git(workspace, "commit", "--quiet", "-m", "Add the job\n\nA trailer-like line in the body.\nData-Pipeline: no\n\nx")
    return workspace, git(workspace, "rev-parse", "HEAD")


def recording_docker(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """PATH with a `docker` that records its arguments and succeeds: what a build asks of the engine."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "docker-calls"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (bin_dir / "docker").chmod(0o755)
    calls.touch()
    return {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}, calls


@pytest.mark.parametrize("repo", sorted(JENKINSFILES))
@pytest.mark.parametrize("branch", ["main", "data/0123456789ab"])
def test_a_data_commit_is_not_built(tmp_path: Path, repo: str, branch: str) -> None:
    workspace, code = checkout(tmp_path, repo)
    (workspace / "data.csv.dvc").write_text("outs:\n- md5: 0123456789abcdef0123456789abcdef\n  path: data.csv\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "--quiet", "-m", DATA_MESSAGE.format(code=code))
    commit = git(workspace, "rev-parse", "HEAD")
    path, calls = recording_docker(tmp_path)
    env = {**path, "GIT_COMMIT": commit, "BRANCH_NAME": branch, "REGISTRY": "registry.invalid:5000"}

    started = time.monotonic()
    result = run_jenkinsfile(workspace, env, credentials={})
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Finished: SUCCESS" in output, output
    assert f"Data commit {commit} (trailer Data-Pipeline: de_datapreprocessing)" in output
    for stage in BUILD_STAGES:
        assert f"stage '{stage}': skipped by its when condition" in output, stage
    assert not [c for c in calls.read_text().splitlines() if c.split()[0] in {"build", "push", "run", "login"}]
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("repo", sorted(JENKINSFILES))
def test_a_code_commit_is_built_as_before(tmp_path: Path, repo: str) -> None:
    client = docker_client()
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        unavailable(f"image {BASE_IMAGE} is missing; run offline/build-images.sh")
    workspace, commit = checkout(tmp_path, repo)
    registry = f"mlops-standin-{uuid.uuid4().hex[:8]}"
    env = {"GIT_COMMIT": commit, "BRANCH_NAME": "feature/x", "REGISTRY": registry, "BASE_IMAGE": BASE_IMAGE}
    try:
        result = run_jenkinsfile(workspace, env, credentials={}, timeout=600)
        output = result.stdout + result.stderr
        assert result.returncode == 0 and "Finished: SUCCESS" in output, output[-4000:]
        assert f"Code commit {commit}: unit tests, image build and push" in output
        for stage in ("Prepare", "Unit tests", "Build image"):
            assert f"[stand-in] stage '{stage}'\n" in output, stage
        assert "image ok" in output and "stage 'Push': skipped by its when condition" in output  # not main
        assert client.images.get(f"{registry}/{repo}:{commit}").id == client.images.get(f"{registry}/{repo}:latest").id
    finally:
        for tag in (commit, "latest", f"test-{commit}"):
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(f"{registry}/{repo}:{tag}", force=True)
