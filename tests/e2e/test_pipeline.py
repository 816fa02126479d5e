"""End to end, the data loop: the repo's Jenkinsfile builds the preprocessing image from
a checkout of the (FAKE) GitBucket's repo and pushes it to the stack's registry; the
DAG, read by Airflow from the GitBucket repo, is triggered through Airflow's REST API;
the run must version the data in S3 and tag the code repo.

Jenkins cannot run here, so the Jenkinsfile runs under the JENKINS STAND-IN
(tests/support/jenkinsfile_standin.groovy), with the variables the stack's JCasC gives
Jenkins plus the optional ones an offline Jenkins needs (base image, CA bundle, build
network), all documented in the Jenkinsfile.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import requests
from pulumi import automation as auto

from mlops_clients import gitbucket, s3
from tests.support.containers import wait_until
from tests.support.jenkins_standin import run_jenkinsfile
from tests.support.snoop_job import SNOOP_JOB

pytestmark = pytest.mark.e2e
DAG = "de_preprocessing"


def jenkins_build(out: dict[str, object], scratch: Path) -> str:
    """A build of main, as the multibranch job would run it: a checkout, then the Jenkinsfile."""
    user, password = str(out["gitbucketRootUser"]), str(out["gitbucketRootPassword"])
    workspace = scratch / "de_datapreprocessing_main"
    clone = gitbucket.run_git(
        ["clone", "--branch", "main", str(out["appRepoCloneUrl"]), str(workspace)], None, user, password
    )
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
    for stage in ("Prepare", "Unit tests", "Build image", "Push"):
        assert f"[stand-in] stage '{stage}'\n" in output, f"stage {stage} did not run"
    return commit


def run_dag(airflow: AirflowAPI, conf: dict[str, str]) -> dict[str, str]:
    """Trigger the DAG with `conf` as params, wait for it, and return its data version."""
    run = airflow.call("POST", f"/dags/{DAG}/dagRuns", json={"logical_date": None, "conf": conf})
    assert run.status_code == 200, run.text
    run_id = run.json()["dag_run_id"]

    def finished() -> str | None:
        state = str(airflow.call("GET", f"/dags/{DAG}/dagRuns/{run_id}").json()["state"])
        return state if state in ("success", "failed") else None

    state = wait_until(finished, timeout=900, what="the DAG run", interval=5, tolerate=())
    if state != "success":
        logs = airflow.call(
            "GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/preprocess/logs/1", params={"full_content": True}
        )
        pytest.fail(f"DAG run {run_id} {state}:\n{logs.text[-4000:]}")
    xcom = airflow.call("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/data_version/xcomEntries/return_value")
    assert xcom.status_code == 200, xcom.text
    version = xcom.json()["value"]
    return dict(json.loads(version) if isinstance(version, str) else version)


class AirflowAPI:
    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url
        token = requests.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=30)
        token.raise_for_status()
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def call(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return requests.request(method, f"{self.url}/api/v2{path}", headers=self.headers, timeout=30, **kwargs)  # type: ignore[arg-type]


def test_a_dag_run_versions_the_data_and_tags_the_code(stack: auto.Stack, tmp_path: Path) -> None:
    stack.up(on_output=print)  # a no-op after the lifecycle test; a cold up when run alone
    out = {k: v.value for k, v in stack.outputs().items()}
    commit = jenkins_build(out, tmp_path)
    # The walkthrough's check (README): the commit and latest are in the registry, for its login only.
    tags_url = f"{out['registryUrl']}/v2/de_datapreprocessing/tags/list"
    login = (str(out["registryUser"]), str(out["registryPassword"]))
    assert {"latest", commit} <= set(requests.get(tags_url, auth=login, timeout=30).json()["tags"])
    assert requests.get(tags_url, timeout=30).status_code == 401
    assert requests.get(tags_url, auth=(login[0], "wrong-password"), timeout=30).status_code == 401
    airflow = AirflowAPI(str(out["airflowUrl"]), str(out["airflowAdminUser"]), str(out["airflowAdminPassword"]))

    # The DAG arrives through the git DAG bundle, from the seeded myairflow_dags repo.
    wait_until(
        lambda: airflow.call("GET", f"/dags/{DAG}").status_code == 200,
        timeout=300,
        what="the DAG parsed from the git bundle",
        interval=5,
        tolerate=(),
    )
    assert airflow.call("PATCH", f"/dags/{DAG}", json={"is_paused": False}).status_code == 200
    tag = run_dag(airflow, {})["tag"]
    assert tag.startswith("CV_") and "_DV_" in tag

    # The tag is in the code repo, and the data is in the DVC bucket.
    user, password = str(out["gitbucketRootUser"]), str(out["gitbucketRootPassword"])
    tags = gitbucket.run_git(["ls-remote", "--tags", str(out["appRepoCloneUrl"])], None, user, password).stdout
    assert f"refs/tags/{tag}" in tags
    dvc = s3.s3_client(str(out["minioS3Url"]), str(out["dvcAccessKey"]), str(out["dvcSecretKey"]))
    objects = dvc.list_objects_v2(Bucket="de-datapreprocessing", Prefix="dvcstore/").get("Contents", [])
    assert objects, "no DVC object in the bucket"


def test_a_job_cannot_read_the_credentials_of_the_pipeline_that_runs_it(stack: auto.Stack, tmp_path: Path) -> None:
    """A commit whose job tries every way to the entrypoint's credentials, run by the DAG on the
    stack: what it obtained is its output data, read back from S3 and searched for every secret."""
    out = {k: v.value for k, v in stack.outputs().items()}
    user, password = str(out["gitbucketRootUser"]), str(out["gitbucketRootPassword"])
    work = tmp_path / "snoop"
    assert gitbucket.run_git(["clone", str(out["appRepoCloneUrl"]), str(work)], None, user, password).returncode == 0
    (work / "de_datapreprocessing" / "job.py").write_text(SNOOP_JOB)
    author = ["-c", "user.name=e2e", "-c", "user.email=e2e@localhost"]
    for args in (["checkout", "-b", "e2e-snoop"], ["add", "-A"], [*author, "commit", "-m", "Job that snoops"]):
        assert gitbucket.run_git(args, work, user, password).returncode == 0, args
    assert gitbucket.run_git(["push", "origin", "e2e-snoop"], work, user, password).returncode == 0
    commit = gitbucket.run_git(["rev-parse", "HEAD"], work, user, password).stdout.strip()

    airflow = AirflowAPI(str(out["airflowUrl"]), str(out["airflowAdminUser"]), str(out["airflowAdminPassword"]))
    version = run_dag(airflow, {"code_ref": commit, "git_branch": "e2e-snoop"})
    dvc = s3.s3_client(str(out["minioS3Url"]), str(out["dvcAccessKey"]), str(out["dvcSecretKey"]))
    md5 = version["data_md5"]
    report = dvc.get_object(Bucket="de-datapreprocessing", Key=f"dvcstore/files/md5/{md5[:2]}/{md5[2:]}")["Body"]
    records = [json.loads(line) for line in report.read().decode().splitlines()]
    secrets = {
        name: str(out[name])
        for name in ("gitbucketRootPassword", "gitbucketAutomationPassword", "dvcSecretKey", "registryPassword")
    }
    leaks = sorted(
        f"{name} via {r['source']}"
        for r in records
        for name, secret in secrets.items()
        if secret.encode() in base64.b64decode(r["data"])
    )
    assert not leaks, f"the job obtained the credentials: {leaks}"
    by_source = {r["source"]: r for r in records}
    assert by_source["/proc/1/environ"]["ok"] is False, "the job could read the entrypoint's environment"
