"""The Jenkinsfile stand-in itself: the tests that use it rely on these behaviours of Jenkins."""

from __future__ import annotations

from pathlib import Path

import pytest

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
