"""What the end-to-end tests of the pipelines share: a Jenkinsfile build under the JENKINS
STAND-IN (Airflow's API is in tests/support/airflow_api.py)."""

from __future__ import annotations

from pathlib import Path

from mlops_clients import gitbucket
from tests.support.jenkins_standin import run_jenkinsfile

# Each seeded repo with a Jenkinsfile, and the stack output with its clone URL.
CLONE_URL_OUTPUT = {"de_datapreprocessing": "appRepoCloneUrl", "ds_mlmodeling": "trainingRepoCloneUrl"}


def jenkins_build(out: dict[str, object], scratch: Path, repo: str = "de_datapreprocessing") -> str | None:
    """A build of main, as the multibranch job would run it: a checkout, then the Jenkinsfile.
    The commit whose image it pushed; None when main's head only records data (a DAG run's
    commit), which the Jenkinsfile does not build: its code's image is there already."""
    user, password = str(out["gitbucketRootUser"]), str(out["gitbucketRootPassword"])
    workspace = scratch / f"{repo}_main"
    clone_url = str(out[CLONE_URL_OUTPUT[repo]])
    clone = gitbucket.run_git(["clone", "--branch", "main", clone_url, str(workspace)], None, user, password)
    assert clone.returncode == 0, clone.stderr
    commit = gitbucket.run_git(["rev-parse", "HEAD"], workspace, user, password).stdout.strip()
    build = run_jenkinsfile(
        workspace,
        {
            "GIT_COMMIT": commit,
            "BRANCH_NAME": "main",
            # From JCasC (images/jenkins/casc/jenkins.yaml) for the local registry, which wants a login.
            "REGISTRY": str(out["registryPushPrefix"]),
            "REGISTRY_SERVER": str(out["registryPushPrefix"]),
            "REGISTRY_AUTH": "true",
            # What an offline Jenkins sets as global properties (see the Jenkinsfile).
            "BASE_IMAGE": "mlops-local/debian:bookworm",
            "PIP_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
            "DOCKER_BUILD_NETWORK": "host",
        },
        credentials={"registry": {"username": str(out["registryUser"]), "password": str(out["registryPassword"])}},
    )
    output = build.stdout + build.stderr
    assert build.returncode == 0 and "Finished: SUCCESS" in output, output[-6000:]
    if f"Data commit {commit} " in output:
        return None
    for stage in ("Prepare", "Unit tests", "Build image", "Push"):
        assert f"[stand-in] stage '{stage}'\n" in output, f"stage {stage} did not run"
    return commit
