"""End to end, the data loop: the preprocessing image in the stack's registry, the
DAG read by Airflow from the (FAKE) GitBucket's repo, triggered through Airflow's
REST API; the run must version the data in S3 and tag the code repo.

Jenkins cannot run here, so the test builds and pushes the image itself, the way
the repo's Jenkinsfile does (`docker build --target runtime`, push to the registry).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from pulumi import automation as auto

from mlops_clients import gitbucket, s3
from tests.support import e2e_stack as e2e
from tests.support.containers import wait_until

pytestmark = pytest.mark.e2e
DAG = "de_preprocessing"


def build_and_push(registry_prefix: str, scratch: Path) -> str:
    """What the Jenkinsfile does: build the runtime target, push it as :latest."""
    context = scratch / "context"
    shutil.copytree(e2e.PROJECT_DIR / "gitbucket_repos" / "de_datapreprocessing", context)
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", context / "ca-bundle.crt")
    image = f"{registry_prefix}/de_datapreprocessing:latest"
    subprocess.run(
        [
            "docker",
            "build",
            "--network",
            "host",
            "--target",
            "runtime",
            "--build-arg",
            "BASE_IMAGE=mlops-local/debian:bookworm",
            "--build-arg",
            "CA_BUNDLE=ca-bundle.crt",
            "-t",
            image,
            str(context),
        ],
        check=True,
        env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"},
    )
    subprocess.run(["docker", "push", image], check=True)
    return image


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
    build_and_push(str(out["registryPushPrefix"]), tmp_path)
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
    run = airflow.call("POST", f"/dags/{DAG}/dagRuns", json={"logical_date": None, "conf": {}})
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
    if isinstance(version, str):
        version = json.loads(version)
    tag = version["tag"]
    assert tag.startswith("CV_") and "_DV_" in tag

    # The tag is in the code repo, and the data is in the DVC bucket.
    user, password = str(out["gitbucketAdminUser"]), str(out["gitbucketAdminPassword"])
    tags = gitbucket.run_git(["ls-remote", "--tags", str(out["appRepoCloneUrl"])], None, user, password).stdout
    assert f"refs/tags/{tag}" in tags
    dvc = s3.s3_client(str(out["minioS3Url"]), str(out["dvcAccessKey"]), str(out["dvcSecretKey"]))
    objects = dvc.list_objects_v2(Bucket="de-datapreprocessing", Prefix="dvcstore/").get("Contents", [])
    assert objects, "no DVC object in the bucket"
