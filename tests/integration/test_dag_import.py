"""dags/ in REAL Airflow 3.3.2 (the locally built image): imports cleanly, has the expected shape.

The container gets the dags directory read-only at /opt/airflow/dags, a SQLite
metadata DB migrated with ``airflow db migrate``, and no connection at all
while the DAG is parsed (a parse-time connection lookup would be an import
error). Then, still inside real Airflow, the preprocess operator is executed
against a mocked Docker API client with the two connections defined through
AIRFLOW_CONN_* variables, to check what reaches the container and what the
task returns; and the data_version task parses that return value.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.airflow import run_in_airflow

pytestmark = pytest.mark.integration

GIT_PASSWORD = "git-secret-value"
S3_SECRET = "s3-secret-value"

CHECK = r"""
import json, os, sys
from datetime import timedelta
from unittest import mock

from airflow.dag_processing.dagbag import DagBag

assert not [k for k in os.environ if k.startswith("AIRFLOW_CONN_")], "no connection may exist while parsing"
bag = DagBag(dag_folder="/opt/airflow/dags")
out = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dag_ids": sorted(bag.dags)}
dag = bag.dags.get("de_preprocessing")
if dag is not None:
    pre = dag.get_task("preprocess")
    out["dag"] = {
        "schedule": dag.schedule, "catchup": dag.catchup,
        "params": {k: dag.params[k] for k in dag.params},
        "tasks": sorted(t.task_id for t in dag.tasks),
        "downstream": sorted(pre.downstream_task_ids),
    }
    out["preprocess"] = {
        "bases": [c.__name__ for c in type(pre).__mro__],
        "image": pre.image, "api_version": pre.api_version, "network_mode": pre.network_mode,
        "mount_tmp_dir": pre.mount_tmp_dir, "auto_remove": pre.auto_remove, "retries": pre.retries,
        "retry_delay": pre.retry_delay.total_seconds(), "do_xcom_push": pre.do_xcom_push, "xcom_all": pre.xcom_all,
        "environment": pre.environment, "template_fields": list(pre.template_fields),
        "private_at_parse": dict(pre._private_environment), "docker_conn_id": pre.docker_conn_id,
    }

    # Templates render in real Airflow: params, and the image from a Variable or the default.
    from airflow.sdk.execution_time.context import VariableAccessor
    context = {"params": {"code_ref": "abc123", "git_branch": "dev"},
               "var": {"value": VariableAccessor(deserialize_json=False),
                       "json": VariableAccessor(deserialize_json=True)}}
    pre.render_template_fields(context)
    out["rendered"] = {"image": pre.image, "environment": dict(pre.environment)}
    os.environ["AIRFLOW_VAR_DE_PREPROCESSING_IMAGE"] = "localhost:5000/de_datapreprocessing:abc"
    other = DagBag(dag_folder="/opt/airflow/dags").dags["de_preprocessing"].get_task("preprocess")
    other.render_template_fields(context)
    out["rendered"]["image_from_variable"] = other.image

    os.environ["AIRFLOW_CONN_GITBUCKET_DEFAULT"] = json.dumps({"conn_type": "git",
        "host": "http://gitbucket:8080/git/root/de_datapreprocessing.git", "login": "root", "password": sys.argv[1]})
    os.environ["AIRFLOW_CONN_MINIO_DEFAULT"] = json.dumps({"conn_type": "aws", "login": "dvc-user",
        "password": sys.argv[2], "extra": {"endpoint_url": "http://minio:9000"}})
    from airflow.providers.docker.operators.docker import DockerOperator
    docker_api = mock.MagicMock()
    docker_api.images.return_value = [{"Id": "sha256:x"}]
    docker_api.pull.return_value = iter([])
    docker_api.create_container.return_value = {"Id": "cid"}
    docker_api.attach.return_value = iter([b"[de_datapreprocessing] pushing\n",
        b'{"tag": "CV_Add-x_DV_20250101T000000Z", "data_md5": "0123456789abcdef0123456789abcdef", "commit": "c"}\n'])
    docker_api.wait.return_value = {"StatusCode": 0}
    with mock.patch.object(DockerOperator, "cli", new_callable=mock.PropertyMock, return_value=docker_api):
        returned = pre.execute({})
    created = docker_api.create_container.call_args.kwargs
    out["run"] = {
        "returned": returned,
        "environment": created["environment"],
        "network_mode": docker_api.create_host_config.call_args.kwargs["network_mode"],
        "mounts": docker_api.create_host_config.call_args.kwargs["mounts"],
        "removed": docker_api.remove_container.call_args.args,
        "rendered_environment_after": pre.environment,
    }
    out["data_version"] = dag.get_task("data_version").python_callable(returned)
print("RESULT:" + json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def airflow_report() -> dict[str, Any]:
    logs = run_in_airflow(
        CHECK,
        args=(GIT_PASSWORD, S3_SECRET),
        environment={"MLOPS_DOCKER_NETWORK": "mlops-test-net"},
        network_disabled=True,
    )
    lines = [line for line in logs.splitlines() if line.startswith("RESULT:")]
    assert lines, logs[-4000:]
    report: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT:"))
    return report


def test_dag_imports_without_errors(airflow_report: dict[str, Any]) -> None:
    assert airflow_report["import_errors"] == {}
    assert "de_preprocessing" in airflow_report["dag_ids"]


def test_dag_shape_and_params(airflow_report: dict[str, Any]) -> None:
    dag = airflow_report["dag"]
    assert dag["schedule"] is None and dag["catchup"] is False
    assert dag["params"] == {"code_ref": "", "git_branch": "main"}
    assert dag["tasks"] == ["data_version", "preprocess"]
    assert dag["downstream"] == ["data_version"]


def test_preprocess_is_a_docker_operator_configured_for_the_host_engine(airflow_report: dict[str, Any]) -> None:
    pre = airflow_report["preprocess"]
    assert "DockerOperator" in pre["bases"]
    assert "DE_PREPROCESSING_IMAGE" in pre["image"] and "{{" in pre["image"]
    assert pre["api_version"] == "auto"
    assert pre["network_mode"] == "mlops-test-net"
    assert pre["mount_tmp_dir"] is False and pre["auto_remove"] == "success"
    assert pre["retries"] == 2 and pre["retry_delay"] > 0
    assert pre["do_xcom_push"] is True and pre["xcom_all"] is False
    assert pre["docker_conn_id"] is None  # no registry login unless the stack names a connection
    assert pre["environment"]["CODE_REF"] == "{{ params.code_ref }}"
    assert pre["environment"]["GIT_BRANCH"] == "{{ params.git_branch }}"
    assert "DVC_REMOTE_URL" in pre["environment"]
    # Secrets are not known at parse time and never pass through a templated field.
    assert pre["private_at_parse"] == {}
    assert "private_environment" not in pre["template_fields"]
    assert all("PASSWORD" not in key and "SECRET" not in key for key in pre["environment"])


def test_templates_render_params_and_image(airflow_report: dict[str, Any]) -> None:
    rendered = airflow_report["rendered"]
    assert rendered["image"] == "localhost:5000/de_datapreprocessing:latest"
    assert rendered["image_from_variable"] == "localhost:5000/de_datapreprocessing:abc"
    assert rendered["environment"] == {
        "CODE_REF": "abc123",
        "GIT_BRANCH": "dev",
        "DVC_REMOTE_URL": "s3://de-datapreprocessing/dvcstore",
    }


def test_connections_reach_the_container_secrets_privately(airflow_report: dict[str, Any]) -> None:
    run = airflow_report["run"]
    env = run["environment"]
    assert env["GIT_REPO_URL"] == "http://gitbucket:8080/git/root/de_datapreprocessing.git"
    assert env["GIT_USERNAME"] == "root" and env["GIT_PASSWORD"] == GIT_PASSWORD
    assert env["AWS_ACCESS_KEY_ID"] == "dvc-user" and env["AWS_SECRET_ACCESS_KEY"] == S3_SECRET
    assert env["DVC_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["CODE_REF"] == "abc123" and env["GIT_BRANCH"] == "dev"
    # Only the non-secret part is in the (templated, stored) environment field.
    after = run["rendered_environment_after"]
    assert GIT_PASSWORD not in json.dumps(after) and S3_SECRET not in json.dumps(after)
    assert run["network_mode"] == "mlops-test-net" and run["mounts"] == []
    assert run["removed"] == ["cid"]


def test_task_output_is_the_last_line_and_data_version_parses_it(airflow_report: dict[str, Any]) -> None:
    returned = airflow_report["run"]["returned"]
    assert json.loads(returned)["tag"] == "CV_Add-x_DV_20250101T000000Z"
    assert airflow_report["data_version"] == {
        "tag": "CV_Add-x_DV_20250101T000000Z",
        "data_md5": "0123456789abcdef0123456789abcdef",
    }
