"""End to end: the real program, the real Pulumi engine, a real Docker engine.

The invariants Pulumi's ProgramTest and Terratest assert: preview, up to a
healthy stack, a second up with no change, a refresh with no drift, destroy
leaving nothing but the retained volumes, a state export with no plaintext
secret, retained data found again, and out-of-band deletion repaired.
The services and the wiring are checked by the acceptance tier (scripts/verify.sh), the
checks users run on their own stacks.
Runs the `e2e` stack (Pulumi.e2e.yaml): Jenkins is disabled there and GitBucket
is a FAKE GitBucket, because their images cannot be had on this machine.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pymysql
import pytest
from pulumi import automation as auto

from mlops_clients import s3
from tests.e2e.verified import verified
from tests.support import e2e_stack as e2e

pytestmark = pytest.mark.e2e

EXPECTED_CONTAINERS = [
    f"{e2e.PREFIX}-{name}"
    for name in (
        "airflow",
        "airflow-dag-processor",
        "airflow-gateway",  # what the second engine's worker reaches (tests/e2e/conftest.py)
        "airflow-init",
        "airflow-scheduler",
        "airflow-statsd",
        "airflow-triggerer",
        "airflow-worker-1",
        "gitbucket",
        "minio",
        "mlflow",
        "mlflow-metrics",
        "mlflow-prepare",
        "model-api-1",
        "modelapi-grant",
        "mysql",
        "mysql-exporter",
        "phpmyadmin",
        "prometheus",
        "redis",
        "registry",
    )
]
ONE_SHOT = ("airflow-init", "mlflow-prepare", "modelapi-grant")
EXPECTED_VOLUMES = [
    f"{e2e.PREFIX}-{n}"
    for n in (
        "airflow-logs",
        "gitbucket-data",
        "minio-data",
        "mlflow-auth",
        "mysql-data",
        "prometheus-data",
        "redis-data",
        "registry-data",
    )
]


def changes(summary: auto.UpdateSummary) -> dict[str, int]:
    """Operations other than "same" (an up or refresh that changed nothing has none)."""
    return {str(op): n for op, n in (summary.resource_changes or {}).items() if op != "same" and n}


def outputs(stack: auto.Stack) -> dict[str, object]:
    return {k: v.value for k, v in stack.outputs().items()}


def test_lifecycle(stack: auto.Stack, tmp_path: Path) -> None:
    preview = stack.preview(on_output=print)
    assert preview.change_summary.get(auto.OpType.CREATE, 0) >= 20, preview.change_summary

    up = stack.up(on_output=print)
    assert up.summary.result == "succeeded"
    out = outputs(stack)
    all_outputs = stack.outputs()
    for key in (
        "mysqlRootPassword",
        "minioRootPassword",
        "airflowAdminPassword",
        "dvcSecretKey",
        "gitbucketRootPassword",
        "gitbucketAutomationPassword",
    ):
        assert all_outputs[key].secret, key

    # Every service container is up and healthy; the one-shot init finished cleanly.
    assert e2e.stack_containers() == EXPECTED_CONTAINERS
    for name in EXPECTED_CONTAINERS:
        state = e2e.inspect(name)["State"]
        if name.endswith(ONE_SHOT):
            assert (state["Status"], state["ExitCode"]) == ("exited", 0), state
        else:
            assert state["Health"]["Status"] == "healthy", (name, state["Health"])
        assert e2e.inspect(name)["HostConfig"]["Memory"] > 0

    # The acceptance checks (scripts/verify.sh) of every service and of the wiring.
    report = verified(stack, tmp_path, "-k", "test_services or test_wiring")
    assert "| FAKE (offline/fakes) |" in report and "| SKIPPED | services: Jenkins" in report, report

    # Data a user would keep: a row and an object, for after destroy.
    root = mysql_root(out)
    with root.cursor() as cursor:
        cursor.execute("CREATE DATABASE e2e_probe")
        cursor.execute("CREATE TABLE e2e_probe.kept (v VARCHAR(20))")
        cursor.execute("INSERT INTO e2e_probe.kept VALUES ('survives')")
    root.close()
    dvc = s3.s3_client(str(out["minioS3Url"]), str(out["dvcAccessKey"]), str(out["dvcSecretKey"]))
    dvc.put_object(Bucket="de-datapreprocessing", Key="probe/kept.txt", Body=b"survives")

    # A second up changes nothing; a refresh finds no drift.
    again = stack.up(on_output=print)
    assert changes(again.summary) == {}, again.summary.resource_changes
    refresh = stack.refresh(on_output=print)
    assert changes(refresh.summary) == {}, refresh.summary.resource_changes
    assert set(stack.preview().change_summary) <= {auto.OpType.SAME}

    # The state holds no secret in plaintext.
    state_text = e2e.stored_state_text(stack)
    assert "ciphertext" in state_text  # secrets are there, encrypted
    for key, value in all_outputs.items():
        if value.secret:
            assert str(value.value) not in state_text, f"{key} is in the state in plaintext"

    # Destroy leaves no container or network of the stack, and the data volumes.
    stack.destroy(on_output=print)
    assert e2e.stack_containers() == []
    assert e2e.stack_networks() == []
    assert e2e.stack_volumes() == EXPECTED_VOLUMES

    # A new up finds the retained data.
    stack.up(on_output=print)
    out = outputs(stack)
    with mysql_root(out).cursor() as cursor:
        cursor.execute("SELECT v FROM e2e_probe.kept")
        assert cursor.fetchall() == (("survives",),)
    dvc = s3.s3_client(str(out["minioS3Url"]), str(out["dvcAccessKey"]), str(out["dvcSecretKey"]))
    assert dvc.get_object(Bucket="de-datapreprocessing", Key="probe/kept.txt")["Body"].read() == b"survives"

    # Rotating MySQL's root password (`config set --secret` + `up`) on a server with data:
    # the new password works, the old one is refused, the data and its users stay.
    old_root = str(out["mysqlRootPassword"])
    stack.set_config("mysqlRootPassword", auto.ConfigValue(value=secrets.token_urlsafe(24), secret=True))
    rotated = stack.up(on_output=print)
    assert rotated.summary.result == "succeeded"
    out = outputs(stack)
    assert out["mysqlRootPassword"] != old_root
    with mysql_root(out).cursor() as cursor:
        cursor.execute("SELECT v FROM e2e_probe.kept")
        assert cursor.fetchall() == (("survives",),)
    host, port = str(out["mysqlHost"]).split(":")
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        pymysql.connect(host=host, port=int(port), user="root", password=old_root)
    verified(stack, tmp_path, "-k", "mysql or phpmyadmin or airflow or database")

    # A container deleted behind Pulumi's back is found by refresh and recreated.
    registry = f"{e2e.PREFIX}-registry"
    e2e.docker("rm", "-f", registry)
    # The acceptance checks see it (they can fail): verify exits 1 and its report says which.
    status, output, report = e2e.verify(stack, tmp_path / "broken.md", "-k", "registry")
    assert status == 1 and "| FAILED | services: Registry" in report, output[-3000:]
    repaired = stack.up(refresh=True, on_output=print)
    assert (repaired.summary.resource_changes or {}).get(auto.OpType.CREATE, 0) >= 1, repaired.summary.resource_changes
    assert e2e.inspect(registry)["State"]["Health"]["Status"] == "healthy"
    assert changes(stack.up().summary) == {}


def mysql_root(out: dict[str, object]) -> pymysql.connections.Connection:
    host, port = str(out["mysqlHost"]).split(":")
    return pymysql.connect(
        host=host, port=int(port), user="root", password=str(out["mysqlRootPassword"]), autocommit=True
    )
