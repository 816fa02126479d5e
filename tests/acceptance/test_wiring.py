"""The wiring between the services: seeded repos, webhooks, buckets and scoped users, Airflow's
connections and DAGs, MLflow's accounts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import botocore.exceptions
import pymysql
import pytest
import requests

from components.gitbucket import APP_REPO, SEEDED_REPOS, TRAINING_REPO
from dags.mlops_contract import ConnId
from mlops_clients import gitbucket, s3
from tests.acceptance.live import PROJECT_DIR, TIMEOUT, Live
from tests.support.airflow_api import AirflowAPI

pytestmark = pytest.mark.acceptance

# The stack output with each seeded repo's clone URL, and the folder of this checkout it is seeded from.
SEEDED = {repo.output: repo.source for repo in SEEDED_REPOS}  # the stack output of each, and its seed
# Repos whose Jenkinsfile Jenkins builds on a push (GitBucket's webhook).
BUILT_BY_JENKINS = (APP_REPO.output, TRAINING_REPO.output)
DVC_BUCKET, MLFLOW_BUCKET = "de-datapreprocessing", "mlflow"


def repo_name(clone_url: str) -> str:
    return clone_url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")


def root_of(live: Live) -> tuple[str, str]:
    return live.out("gitbucketRootUser"), live.out("gitbucketRootPassword")


@pytest.mark.parametrize("output", sorted(SEEDED))
def test_seeded_repo(live: Live, output: str, tmp_path: Path) -> None:
    """A seeded repo: its main holds every file the checkout seeds it with"""
    clone_url = live.out(output)
    clone = gitbucket.run_git(
        ["clone", "--quiet", "--depth", "1", "--branch", "main", clone_url, str(tmp_path / "r")], None, *root_of(live)
    )
    assert clone.returncode == 0, clone.stderr[-300:]
    source = SEEDED[output]
    listed = subprocess.run(
        ["git", "-C", str(PROJECT_DIR), "ls-files", "--", source],
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT,
    )
    seeded = listed.stdout.split() if listed.returncode == 0 else []
    if not seeded:
        pytest.skip(f"this copy of mlops-stack has no git-tracked {source} to compare with (not a git checkout?)")
    missing = [f for f in seeded if not (tmp_path / "r" / Path(f).relative_to(source)).exists()]
    assert not missing, f"{repo_name(clone_url)} lacks {missing[:5]}"


def test_automation_account(live: Live) -> None:
    """GitBucket's automation account (Airflow's, Jenkins'): no admin, DEVELOPER on the seeded repos, makes no user"""
    url = live.out("gitbucketUrl")
    automation = (live.out("gitbucketAutomationUser"), live.out("gitbucketAutomationPassword"))
    me = requests.get(f"{url}/api/v3/user", auth=automation, timeout=TIMEOUT).json()
    assert (me["login"], me["site_admin"]) == (automation[0], False), me
    for output in sorted(k for k in SEEDED if k in live.outputs):
        repo = repo_name(live.out(output))
        permission = requests.get(
            f"{url}/api/v3/repos/root/{repo}/collaborators/{automation[0]}/permission", auth=automation, timeout=TIMEOUT
        )
        assert permission.status_code == 200 and permission.json()["permission"] == "DEVELOPER", (repo, permission.text)
    refused = requests.post(
        f"{url}/api/v3/admin/users",
        json={"login": "verify-intruder", "password": "verify-intruder-pw", "email": "verify@localhost"},
        auth=automation,
        timeout=TIMEOUT,
    )
    assert refused.status_code in (401, 403), refused.status_code


@pytest.mark.parametrize("output", BUILT_BY_JENKINS)
def test_push_webhook(live: Live, output: str) -> None:
    """A repo Jenkins builds has GitBucket's push webhook to Jenkins' notifyCommit"""
    live.require("jenkins")
    repo = repo_name(live.out(output))
    hooks = requests.get(
        f"{live.out('gitbucketUrl')}/api/v3/repos/root/{repo}/hooks", auth=root_of(live), timeout=TIMEOUT
    )
    assert hooks.status_code == 200, hooks.status_code
    found = [h for h in hooks.json() if "/git/notifyCommit" in h.get("config", {}).get("url", "")]
    assert found and "push" in found[0].get("events", []) and found[0].get("active", True), hooks.json()


def test_dvc_user_is_scoped(live: Live) -> None:
    """The object store's dvc user: adds to its bucket, can neither delete there nor write to MLflow's bucket"""
    url = live.out("minioS3Url")
    dvc = s3.s3_client(url, live.out("dvcAccessKey"), live.out("dvcSecretKey"))
    root = s3.s3_client(url, live.out("minioRootUser"), live.out("minioRootPassword"))
    assert {b["Name"] for b in root.list_buckets()["Buckets"]} >= {DVC_BUCKET}
    key = "verify/probe.txt"
    dvc.put_object(Bucket=DVC_BUCKET, Key=key, Body=b"ok")
    try:
        with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
            dvc.delete_object(Bucket=DVC_BUCKET, Key=key)
        if live.enabled("mlflow"):
            with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
                dvc.put_object(Bucket=MLFLOW_BUCKET, Key=key, Body=b"no")
        assert dvc.get_object(Bucket=DVC_BUCKET, Key=key)["Body"].read() == b"ok"
    finally:
        root.delete_object(Bucket=DVC_BUCKET, Key=key)  # the probe is the check's own


# Services with a database of their own on the stack's MySQL (user and database named as the service).
DATABASE_USERS = ("airflow", "gitbucket", "mlflow")


def test_database_accounts(live: Live) -> None:
    """MySQL: each service's account has its own database only (no global privilege)"""
    host, port = live.out("mysqlHost").rsplit(":", 1)
    with (
        pymysql.connect(
            host=host, port=int(port), user="root", password=live.out("mysqlRootPassword"), connect_timeout=TIMEOUT
        ) as root,
        root.cursor() as cursor,
    ):
        for service in (s for s in DATABASE_USERS if live.enabled(s)):
            cursor.execute("SHOW DATABASES LIKE %s", (service,))
            assert cursor.fetchall(), f"no database {service}"
            cursor.execute("SELECT Host FROM mysql.user WHERE User = %s", (service,))
            for (account_host,) in cursor.fetchall():
                cursor.execute("SHOW GRANTS FOR %s@%s", (service, account_host))
                grants = [row[0] for row in cursor.fetchall()]
                assert any(f"ON `{service}`.*" in g for g in grants), (service, grants)
                broad = [g for g in grants if " ON *.* " in g and not g.startswith("GRANT USAGE ON *.*")]
                assert not broad, f"{service} has global privileges: {broad}"


def airflow_api(live: Live) -> AirflowAPI:
    return AirflowAPI(live.out("airflowUrl"), live.out("airflowAdminUser"), live.out("airflowAdminPassword"))


def test_dags(live: Live) -> None:
    """Airflow reads the DAGs from the seeded repo, with no import error"""
    live.out("dagsRepoCloneUrl")
    airflow = airflow_api(live)
    expected = {"de_preprocessing", *(["ml_training"] if live.enabled("mlflow") else [])}
    dags = {d["dag_id"] for d in airflow.call("GET", "/dags", params={"limit": 100}).json()["dags"]}
    assert expected <= dags, f"missing {sorted(expected - dags)}"
    errors = airflow.call("GET", "/importErrors").json()
    assert errors["total_entries"] == 0, [e.get("filename") for e in errors.get("import_errors", [])]


# Resolves connections as `airflow connections get` does, printing only their logins (no password leaves).
LOGINS_OF = """
import json, sys
from airflow.models.connection import Connection
print(json.dumps({c: Connection.get_connection_from_secrets(c).login for c in sys.argv[1:]}))
"""


def connection_logins(live: Live, conn_ids: list[str]) -> dict[str, str]:
    """Connections as Airflow's scheduler resolves them (from its environment, never the database)."""
    scheduler = live.container("airflow-scheduler")
    shown = subprocess.run(
        ["docker", "exec", scheduler, "python", "-c", LOGINS_OF, *conn_ids],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert shown.returncode == 0, f"the scheduler cannot resolve {conn_ids}: {shown.stderr.strip()[-300:]}"
    return dict(json.loads(shown.stdout.strip().splitlines()[-1]))


def test_airflow_connections(live: Live) -> None:
    """Airflow's connections: git as the automation account, S3 as the dvc user, MLflow as the pipeline account"""
    live.require("airflow")
    expected = {ConnId.GIT: live.outputs.get("gitbucketAutomationUser"), ConnId.S3: live.outputs.get("dvcAccessKey")}
    if live.enabled("mlflow"):
        expected[ConnId.MLFLOW] = live.out("mlflowPipelineUser")
    if live.enabled("registry"):
        expected[ConnId.REGISTRY] = live.out("registryUser")
    wanted = {str(conn_id): login for conn_id, login in expected.items() if login is not None}
    assert connection_logins(live, sorted(wanted)) == wanted


def test_mlflow_pipeline_account(live: Live) -> None:
    """MLflow's pipeline account: reads the tracking API, is refused the user API"""
    url = live.out("mlflowUrl")
    pipeline = (live.out("mlflowPipelineUser"), live.out("mlflowPipelinePassword"))
    search = requests.get(f"{url}/api/2.0/mlflow/experiments/search?max_results=1", auth=pipeline, timeout=TIMEOUT)
    assert search.status_code == 200, search.status_code
    users = requests.get(
        f"{url}/api/2.0/mlflow/users/get",
        params={"username": live.out("mlflowAdminUser")},
        auth=pipeline,
        timeout=TIMEOUT,
    )
    assert users.status_code == 403, users.status_code
