"""End to end, the data loop: the repo's Jenkinsfile builds the preprocessing image from
a checkout of the (FAKE) GitBucket's repo and pushes it to the stack's registry; then the
acceptance tier (scripts/verify.sh), whose data-loop check triggers the DAG (read by
Airflow from the GitBucket repo) through Airflow's REST API and restores its tagged data
with `dvc pull`; then a job that snoops for the pipeline's credentials.

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
from tests.e2e.pipelines import jenkins_build
from tests.e2e.verified import verified
from tests.support.airflow_api import AirflowAPI, run_to_success
from tests.support.snoop_job import SNOOP_JOB

pytestmark = pytest.mark.e2e
DAG = "de_preprocessing"


def run_dag(airflow: AirflowAPI, conf: dict[str, str]) -> dict[str, str]:
    """Trigger the DAG with `conf` as params, wait for it, and return its data version."""
    return dict(run_to_success(airflow, DAG, conf, "preprocess", "data_version"))


def test_the_whole_acceptance_suite_passes_once_the_image_is_built(stack: auto.Stack, tmp_path: Path) -> None:
    """scripts/verify.sh, all of it, after a Jenkinsfile build: the data loop runs to a tag whose
    data `dvc pull` restores; Jenkins' checks are skipped (disabled here) and say so."""
    stack.up(on_output=print)  # a no-op after the lifecycle test; a cold up when run alone
    out = {k: v.value for k, v in stack.outputs().items()}
    commit = jenkins_build(out, tmp_path)
    tags_url = f"{out['registryUrl']}/v2/de_datapreprocessing/tags/list"
    login = (str(out["registryUser"]), str(out["registryPassword"]))
    tags = set(requests.get(tags_url, auth=login, timeout=30).json()["tags"])
    assert "latest" in tags and (commit is None or commit in tags), tags

    report = verified(stack, tmp_path)
    assert "| PASSED | data loop: " in report, report
    assert "| SKIPPED | jenkins: " in report and "jenkins is disabled in this stack" in report, report
    assert "de_preprocessing run, trigger to tag" in report


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
    # The e2e stack runs Airflow's CeleryExecutor: the task ran on a worker, not in the scheduler.
    instances = airflow.call("GET", f"/dags/{DAG}/dagRuns/~/taskInstances").json()["task_instances"]
    ran_on = {t["hostname"] for t in instances if t["task_id"] == "preprocess" and t["state"] == "success"}
    assert ran_on and all(host.startswith("airflow-worker-") for host in ran_on), ran_on
