"""An external registry that needs a login, against REAL services.

The registry is the locally built distribution registry with htpasswd auth, published
on 127.0.0.1 (the host's engine allows plain HTTP to loopback registries). Pushing:
Jenkins cannot run here, so the repo's Jenkinsfile runs its Push stage under the
JENKINS STAND-IN (tests/support/jenkinsfile_standin.groovy) with the variables and the
`registry` credential the stack's JCasC gives Jenkins. Pulling: in REAL Airflow 3.3.2
the DAG's preprocess operator runs for real through the host's engine, logging in
with the connection the stack generates (components/airflow.py), pulling the image
from the registry and returning the container's last line.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import docker
import docker.errors
import pytest
import requests

from components.airflow import docker_registry_connection
from dags.mlops_contract import ConnId, Env, connection_variable
from tests.support.airflow import run_in_airflow
from tests.support.containers import docker_client, host_port, new_password, require_image, running, wait_until
from tests.support.jenkins_standin import JENKINSFILE, run_jenkinsfile

pytestmark = pytest.mark.integration
REGISTRY_CONN_ID = ConnId.REGISTRY.value

USER = "pipeline-bot"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
LAST_LINE = {"tag": "CV_registry-auth_DV_20260101T000000Z", "data_md5": "0" * 32}
# A stand-in for the pipeline image: prints what the real entrypoint prints last.
PIPELINE_DOCKERFILE = "FROM {base}\nCMD echo 'pulled and ran'; echo '{line}'\n"


@dataclass(frozen=True)
class AuthRegistry:
    server: str  # as the host's engine names it: 127.0.0.1:<port>
    password: str

    @property
    def prefix(self) -> str:
        return f"{self.server}/team"

    def tags(self) -> list[str]:
        answer = requests.get(
            f"http://{self.server}/v2/team/de_datapreprocessing/tags/list", auth=(USER, self.password), timeout=10
        )
        if answer.status_code == 404:
            return []
        answer.raise_for_status()
        return sorted(answer.json().get("tags") or [])


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    client = docker_client()
    image = require_image(client, "registry")
    password = new_password()
    auth_dir = tmp_path_factory.mktemp("htpasswd")
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
    (auth_dir / "htpasswd").write_text(f"{USER}:{hashed}\n")
    with running(
        client,
        image,
        environment={
            "REGISTRY_AUTH": "htpasswd",
            "REGISTRY_AUTH_HTPASSWD_REALM": "mlops-test",
            "REGISTRY_AUTH_HTPASSWD_PATH": "/auth/htpasswd",
        },
        volumes={str(auth_dir): {"bind": "/auth", "mode": "ro"}},
        ports={"5000/tcp": ("127.0.0.1", None)},
    ) as container:
        server = f"127.0.0.1:{host_port(container, '5000/tcp')}"
        wait_until(lambda: requests.get(f"http://{server}/v2/", timeout=2).status_code == 401, 60, "registry")
        yield AuthRegistry(server, password)


@pytest.fixture(scope="module")
def built_image(auth_registry: AuthRegistry) -> Iterator[str]:
    """What the Jenkinsfile's build stages leave on the host's engine: <repo>:<commit> and :latest."""
    client = docker_client()
    base = require_image(client, "airflow")  # any local image with /bin/sh will do
    repository = f"{auth_registry.prefix}/de_datapreprocessing"
    dockerfile = PIPELINE_DOCKERFILE.format(base=base, line=json.dumps(LAST_LINE))
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=f"{repository}:{COMMIT}", rm=True)
    image.tag(repository, "latest")
    yield repository
    for tag in (COMMIT, "latest"):
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(f"{repository}:{tag}", force=True)


def push_stage(workspace: Path, registry: AuthRegistry, auth: str, password: str, branch: str = "main") -> str:
    """The Jenkinsfile's Push stage, with what JCasC gives Jenkins for this registry; its output."""
    workspace.mkdir(exist_ok=True)
    shutil.copy(JENKINSFILE, workspace / "Jenkinsfile")
    build = run_jenkinsfile(
        workspace,
        {
            "GIT_COMMIT": COMMIT,
            "BRANCH_NAME": branch,
            "REGISTRY": registry.prefix,
            "REGISTRY_SERVER": registry.server,
            "REGISTRY_AUTH": auth,
        },
        credentials={"registry": {"username": USER, "password": password}},
        stages=["Push"],
    )
    output = build.stdout + build.stderr
    assert ("Finished: SUCCESS" in output) == (build.returncode == 0), output[-3000:]
    return output


def test_the_push_stage_needs_the_login(auth_registry: AuthRegistry, built_image: str, tmp_path: Path) -> None:
    output = push_stage(tmp_path / "ws", auth_registry, "false", auth_registry.password)
    assert "Finished: FAILURE" in output and "no basic auth credentials" in output
    assert auth_registry.tags() == []


def test_the_push_stage_refuses_a_wrong_password(auth_registry: AuthRegistry, built_image: str, tmp_path: Path) -> None:
    output = push_stage(tmp_path / "ws", auth_registry, "true", "not-" + auth_registry.password)
    assert "Finished: FAILURE" in output and "unauthorized" in output.lower()
    assert auth_registry.tags() == []


def test_only_main_is_pushed(auth_registry: AuthRegistry, built_image: str, tmp_path: Path) -> None:
    output = push_stage(tmp_path / "ws", auth_registry, "true", auth_registry.password, branch="feature/x")
    assert "stage 'Push': skipped by its when condition" in output and "Finished: SUCCESS" in output
    assert auth_registry.tags() == []


@pytest.fixture(scope="module")
def pushed_image(
    auth_registry: AuthRegistry, built_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Pushed by the Push stage with the login; then removed from the host's engine, so Airflow must pull."""
    output = push_stage(tmp_path_factory.mktemp("push") / "ws", auth_registry, "true", auth_registry.password)
    assert "Finished: SUCCESS" in output, output[-3000:]
    assert auth_registry.password not in output
    assert auth_registry.tags() == sorted([COMMIT, "latest"])
    image = f"{built_image}:latest"
    docker_client().images.remove(image, force=True)
    yield image


RUN_OPERATOR = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.execution_time.context import VariableAccessor

bag = DagBag(dag_folder="/opt/airflow/dags")
assert not bag.import_errors, bag.import_errors
pre = bag.dags["de_preprocessing"].get_task("preprocess")
print("CONN_ID:" + json.dumps(pre.docker_conn_id))
pre.render_template_fields({"params": {"code_ref": "", "git_branch": "main"},
                            "var": {"value": VariableAccessor(deserialize_json=False)}})
try:
    returned = pre.execute({})
except Exception as error:
    print("ERROR:" + json.dumps(f"{type(error).__name__}: {error}"))
    sys.exit(0)
print("IMAGE:" + json.dumps(pre.image))
print("RESULT:" + json.dumps(returned))
"""


def run_preprocess_in_airflow(image: str, connection: dict[str, object]) -> dict[str, object]:
    """The DAG's operator, executed for real in the Airflow image with the host's engine."""
    environment = {
        "DE_PREPROCESSING_IMAGE": image,
        Env.REGISTRY_CONN_ID.value: REGISTRY_CONN_ID,
        connection_variable(REGISTRY_CONN_ID): json.dumps(connection),
        # What the stand-in image ignores, but the operator looks up before it runs.
        "AIRFLOW_CONN_GITBUCKET_DEFAULT": json.dumps(
            {"conn_type": "git", "host": "http://gitbucket:8080/git/root/x.git", "login": "root", "password": "p"}
        ),
        "AIRFLOW_CONN_MINIO_DEFAULT": json.dumps(
            {"conn_type": "aws", "login": "dvc", "password": "s", "extra": {"endpoint_url": "http://minio:9000"}}
        ),
    }
    logs = run_in_airflow(
        RUN_OPERATOR,
        environment=environment,
        volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}},
        group_add=[str(os.stat("/var/run/docker.sock").st_gid)],
    )
    report: dict[str, object] = {}
    for line in logs.splitlines():
        for key in ("CONN_ID", "IMAGE", "RESULT", "ERROR"):
            if line.startswith(key + ":"):
                report[key] = json.loads(line.removeprefix(key + ":"))
    assert "CONN_ID" in report, logs[-4000:]
    return report


def test_airflow_pulls_with_the_connection_the_stack_generates(auth_registry: AuthRegistry, pushed_image: str) -> None:
    connection = docker_registry_connection(auth_registry.server, USER, auth_registry.password)
    report = run_preprocess_in_airflow(pushed_image, connection)
    assert report["CONN_ID"] == REGISTRY_CONN_ID
    assert "ERROR" not in report, report.get("ERROR")
    assert json.loads(str(report["RESULT"])) == LAST_LINE
    # The pull was real: the image is now on the host's engine again, and it ran by its digest.
    pulled = docker_client().images.get(pushed_image)
    repository = pushed_image.rpartition(":")[0]
    assert report["IMAGE"] in pulled.attrs["RepoDigests"] and str(report["IMAGE"]).startswith(repository + "@sha256:")


def test_a_missing_pipeline_image_is_named_with_how_to_build_it(auth_registry: AuthRegistry, pushed_image: str) -> None:
    connection = docker_registry_connection(auth_registry.server, USER, auth_registry.password)
    missing = pushed_image.rpartition(":")[0] + ":never-built"
    report = run_preprocess_in_airflow(missing, connection)
    assert "RESULT" not in report
    error = str(report["ERROR"])
    assert f"the pipeline image {missing} cannot be pulled" in error and "Jenkinsfile" in error, error


def test_airflow_with_a_wrong_registry_password_fails_before_running(
    auth_registry: AuthRegistry, pushed_image: str
) -> None:
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client().images.remove(pushed_image, force=True)
    connection = docker_registry_connection(auth_registry.server, USER, "not-" + auth_registry.password)
    report = run_preprocess_in_airflow(pushed_image, connection)
    assert "RESULT" not in report
    assert "unauthorized" in str(report["ERROR"]).lower() or "401" in str(report["ERROR"])
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client().images.get(pushed_image)
