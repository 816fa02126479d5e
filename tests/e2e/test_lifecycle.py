"""End to end: the real program, the real Pulumi engine, a real Docker engine.

The invariants Pulumi's ProgramTest and Terratest assert: preview, up to a
healthy stack, a second up with no change, a refresh with no drift, destroy
leaving nothing but the retained volumes, a state export with no plaintext
secret, retained data found again, and out-of-band deletion repaired.
Runs the `e2e` stack (Pulumi.e2e.yaml): Jenkins is disabled there and GitBucket
is a FAKE GitBucket, because their images cannot be had on this machine.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pymysql
import pytest
import requests
from pulumi import automation as auto

from mlops_clients import gitbucket, s3
from tests.support import e2e_stack as e2e
from tests.support import phpmyadmin

pytestmark = pytest.mark.e2e

EXPECTED_CONTAINERS = [
    f"{e2e.PREFIX}-{name}"
    for name in (
        "airflow",
        "airflow-dag-processor",
        "airflow-init",
        "airflow-scheduler",
        "airflow-triggerer",
        "gitbucket",
        "minio",
        "mlflow",
        "mlflow-prepare",
        "mysql",
        "phpmyadmin",
        "registry",
    )
]
EXPECTED_VOLUMES = [
    f"{e2e.PREFIX}-{n}"
    for n in ("airflow-logs", "gitbucket-data", "minio-data", "mlflow-auth", "mysql-data", "registry-data")
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
        if name.endswith(("airflow-init", "mlflow-prepare")):
            assert (state["Status"], state["ExitCode"]) == ("exited", 0), state
        else:
            assert state["Health"]["Status"] == "healthy", (name, state["Health"])
        assert e2e.inspect(name)["HostConfig"]["Memory"] > 0

    check_mysql(out)
    check_phpmyadmin(out)
    check_s3(out)
    check_gitbucket(out)
    check_airflow(out)

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
    check_airflow(out)

    # A container deleted behind Pulumi's back is found by refresh and recreated.
    registry = f"{e2e.PREFIX}-registry"
    e2e.docker("rm", "-f", registry)
    repaired = stack.up(refresh=True, on_output=print)
    assert (repaired.summary.resource_changes or {}).get(auto.OpType.CREATE, 0) >= 1, repaired.summary.resource_changes
    assert e2e.inspect(registry)["State"]["Health"]["Status"] == "healthy"
    assert changes(stack.up().summary) == {}


def mysql_root(out: dict[str, object]) -> pymysql.connections.Connection:
    host, port = str(out["mysqlHost"]).split(":")
    return pymysql.connect(
        host=host, port=int(port), user="root", password=str(out["mysqlRootPassword"]), autocommit=True
    )


def check_mysql(out: dict[str, object]) -> None:
    with mysql_root(out).cursor() as cursor:
        cursor.execute("SHOW DATABASES")
        assert {"airflow", "gitbucket"} <= {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT User, Host FROM mysql.user WHERE User = 'airflow'")
        assert cursor.fetchall() == (("airflow", "%"),)
        cursor.execute("SHOW GRANTS FOR 'airflow'@'%'")
        grants = " ".join(row[0] for row in cursor.fetchall())
        assert "ON `airflow`.*" in grants and "ON *.*" in grants and "ALL PRIVILEGES ON *.*" not in grants
    host, port = str(out["mysqlHost"]).split(":")
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        pymysql.connect(host=host, port=int(port), user="root", password="wrong-password")


def check_phpmyadmin(out: dict[str, object]) -> None:
    """The database UI: a MySQL account logs in through it and sees the databases; a wrong password does not."""
    url = str(out["phpmyadminUrl"])
    session = phpmyadmin.log_in(url, "root", str(out["mysqlRootPassword"]))
    assert session.logged_in, phpmyadmin.errors(session.page)
    assert {"airflow", "gitbucket"} <= session.databases()
    refused = phpmyadmin.log_in(url, "root", "wrong-password")
    assert not refused.logged_in
    assert refused.page.count("Access denied") or phpmyadmin.errors(refused.page), refused.page[:500]


def check_s3(out: dict[str, object]) -> None:
    root = s3.s3_client(str(out["minioS3Url"]), str(out["minioRootUser"]), str(out["minioRootPassword"]))
    assert {b["Name"] for b in root.list_buckets()["Buckets"]} >= {"de-datapreprocessing", "mlflow"}
    dvc = s3.s3_client(str(out["minioS3Url"]), str(out["dvcAccessKey"]), str(out["dvcSecretKey"]))
    dvc.put_object(Bucket="de-datapreprocessing", Key="probe/e2e.txt", Body=b"ok")
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        dvc.put_object(Bucket="mlflow", Key="probe/e2e.txt", Body=b"no")
    # The DVC user adds data versions but can delete none.
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        dvc.delete_object(Bucket="de-datapreprocessing", Key="probe/e2e.txt")
    assert dvc.get_object(Bucket="de-datapreprocessing", Key="probe/e2e.txt")["Body"].read() == b"ok"


def check_airflow(out: dict[str, object]) -> None:
    url = str(out["airflowUrl"])
    health = requests.get(f"{url}/api/v2/monitor/health", timeout=30).json()
    assert health["metadatabase"]["status"] == "healthy", health
    assert health["scheduler"]["status"] == "healthy", health
    token = requests.post(
        f"{url}/auth/token",
        json={"username": out["airflowAdminUser"], "password": out["airflowAdminPassword"]},
        timeout=30,
    )
    assert token.status_code == 201, token.text
    jwt = token.json()["access_token"]
    dags = requests.get(f"{url}/api/v2/dags", headers={"Authorization": f"Bearer {jwt}"}, timeout=30)
    assert dags.status_code == 200, dags.text
    refused = requests.post(f"{url}/auth/token", json={"username": "admin", "password": "wrong"}, timeout=30)
    assert refused.status_code in (400, 401), refused.text
    # Connections come from the environment (never the metadata database).
    scheduler = f"{e2e.PREFIX}-airflow-scheduler"
    shown = subprocess.run(
        ["docker", "exec", scheduler, "airflow", "connections", "get", "minio_default", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    connection = json.loads(shown)[0]
    assert connection["login"] == "dvc", connection.keys()
    extra = connection.get("extra_dejson") or json.loads(connection.get("extra") or "{}")
    assert extra["endpoint_url"] == "http://minio:9000", connection.keys()


def check_gitbucket(out: dict[str, object]) -> None:
    """The repo wiring against the FAKE GitBucket: root's default password is gone,
    both repos exist and hold the seeded content, the automation account writes to
    them and is no admin."""
    url = str(out["gitbucketUrl"])
    user, password = str(out["gitbucketRootUser"]), str(out["gitbucketRootPassword"])
    assert requests.get(f"{url}/api/v3/repos/root/myairflow_dags", auth=(user, "root"), timeout=10).status_code == 401
    for repo in ("de_datapreprocessing", "myairflow_dags"):
        answer = requests.get(f"{url}/api/v3/repos/root/{repo}", auth=(user, password), timeout=10)
        assert answer.status_code == 200, answer.text
    clone = gitbucket.run_git(["ls-remote", str(out["dagsRepoCloneUrl"])], None, user, password)
    assert clone.returncode == 0, clone.stderr
    assert "refs/heads/main" in clone.stdout
    # The automation account (what Airflow and the pipeline use): reads both repos, no admin.
    automation = (str(out["gitbucketAutomationUser"]), str(out["gitbucketAutomationPassword"]))
    me = requests.get(f"{url}/api/v3/user", auth=automation, timeout=10).json()
    assert (me["login"], me["site_admin"]) == (automation[0], False), me
    for repo in ("de_datapreprocessing", "myairflow_dags"):
        permission = requests.get(
            f"{url}/api/v3/repos/root/{repo}/collaborators/{automation[0]}/permission", auth=automation, timeout=10
        )
        assert permission.json()["permission"] == "DEVELOPER", permission.text
    refused = requests.post(
        f"{url}/api/v3/admin/users",
        json={"login": "e2e-intruder", "password": "e2e-intruder-pw", "email": "e2e@localhost"},
        auth=automation,
        timeout=10,
    )
    assert refused.status_code == 401, refused.text
    clone = gitbucket.run_git(["ls-remote", str(out["dagsRepoCloneUrl"])], None, *automation)
    assert clone.returncode == 0 and "refs/heads/main" in clone.stdout, clone.stderr
