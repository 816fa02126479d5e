"""Every enabled service answers with the stack's credentials, refuses wrong and default ones,
and says which version it is."""

from __future__ import annotations

import os
import subprocess

import botocore.exceptions
import pymysql
import pytest
import requests

from components.jenkins import PIPELINE_JOB as JENKINS_PIPELINE_JOB
from mlops_clients import s3
from tests.acceptance.live import TIMEOUT, Live, docker_json
from tests.acceptance.report import Report
from tests.support import phpmyadmin
from tests.support.containers import wait_until

pytestmark = pytest.mark.acceptance

# Defaults the services ship with, each of which must be refused.
MINIO_DEFAULT = ("minioadmin", "minioadmin")
GITBUCKET_DEFAULT = ("root", "root")
AIRFLOW_DEFAULT = ("admin", "admin")
MLFLOW_DEFAULT = ("admin", "password1234")  # MLflow basic-auth's default admin
JENKINS_DEFAULT = ("admin", "admin")
HEALTH_PARTS = ("metadatabase", "scheduler", "dag_processor", "triggerer")  # what /monitor/health reports
AIRFLOW_RECOVERY = 120  # seconds


def mysql_connect(live: Live, user: str, password: str) -> pymysql.connections.Connection:
    host, port = live.out("mysqlHost").rsplit(":", 1)
    return pymysql.connect(host=host, port=int(port), user=user, password=password, connect_timeout=TIMEOUT)


def test_mysql(live: Live, report: Report) -> None:
    """MySQL: root logs in with the stack's password; an empty or wrong one is refused"""
    with mysql_connect(live, "root", live.out("mysqlRootPassword")) as root, root.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        report.version("mysql", str(cursor.fetchone()[0]))
    for wrong in ("", "wrong-password"):
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            mysql_connect(live, "root", wrong)


def test_object_store(live: Live, report: Report) -> None:
    """Object store: the root login lists the buckets; MinIO's default login is refused"""
    url = live.out("minioS3Url")
    root = s3.s3_client(url, live.out("minioRootUser"), live.out("minioRootPassword"))
    answer = root.list_buckets()
    report.version("minio", answer["ResponseMetadata"]["HTTPHeaders"].get("server", "-"))
    default = s3.s3_client(url, *MINIO_DEFAULT)
    with pytest.raises(botocore.exceptions.ClientError, match=r"InvalidAccessKeyId|AccessDenied|SignatureDoesNotMatch"):
        default.list_buckets()


def test_registry(live: Live, report: Report) -> None:
    """Registry: its login reads the catalog; anonymous and wrong-password requests are refused"""
    url = live.out("registryUrl")
    login = (live.out("registryUser"), live.out("registryPassword"))
    answer = requests.get(f"{url}/v2/_catalog", auth=login, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.status_code
    report.version("registry", answer.headers.get("Docker-Distribution-Api-Version", "-"))
    assert requests.get(f"{url}/v2/_catalog", timeout=TIMEOUT).status_code == 401
    assert requests.get(f"{url}/v2/_catalog", auth=(login[0], "wrong-password"), timeout=TIMEOUT).status_code == 401


def test_gitbucket(live: Live) -> None:
    """GitBucket: root signs in to the API with the stack's password; root/root is refused"""
    url = live.out("gitbucketUrl")
    me = requests.get(
        f"{url}/api/v3/user", auth=(live.out("gitbucketRootUser"), live.out("gitbucketRootPassword")), timeout=TIMEOUT
    )
    assert me.status_code == 200 and me.json()["login"] == live.out("gitbucketRootUser"), me.status_code
    assert requests.get(f"{url}/api/v3/user", auth=GITBUCKET_DEFAULT, timeout=TIMEOUT).status_code == 401


def test_airflow(live: Live, report: Report) -> None:
    """Airflow: healthy, its admin gets an API token; admin/admin and a wrong password are refused"""
    url = live.out("airflowUrl")

    def unhealthy() -> dict[str, object]:
        health = requests.get(f"{url}/api/v2/monitor/health", timeout=TIMEOUT).json()
        return {part: health[part] for part in HEALTH_PARTS if health.get(part, {}).get("status") != "healthy"}

    # A component reconnecting (MySQL restarted, say) misses heartbeats for a while: allow it that.
    try:
        wait_until(lambda: not unhealthy(), timeout=AIRFLOW_RECOVERY, what="Airflow healthy", interval=5)
    except TimeoutError:
        pytest.fail(f"not healthy after {AIRFLOW_RECOVERY} s: {unhealthy()}")
    token = requests.post(
        f"{url}/auth/token",
        json={"username": live.out("airflowAdminUser"), "password": live.out("airflowAdminPassword")},
        timeout=TIMEOUT,
    )
    assert token.status_code == 201, token.status_code
    version = requests.get(
        f"{url}/api/v2/version", headers={"Authorization": f"Bearer {token.json()['access_token']}"}, timeout=TIMEOUT
    )
    assert version.status_code == 200, version.status_code
    report.version("airflow", str(version.json()["version"]))
    for user, password in (AIRFLOW_DEFAULT, (live.out("airflowAdminUser"), "wrong-password")):
        refused = requests.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=TIMEOUT)
        assert refused.status_code in (400, 401, 403), (user, refused.status_code)


def test_mlflow(live: Live, report: Report) -> None:
    """MLflow: healthy; the admin reads the API and the metrics; anonymous and default-admin requests get 401"""
    url = live.out("mlflowUrl")
    assert requests.get(f"{url}/health", timeout=TIMEOUT).status_code == 200
    search = f"{url}/api/2.0/mlflow/experiments/search?max_results=1"
    admin = (live.out("mlflowAdminUser"), live.out("mlflowAdminPassword"))
    report.version("mlflow", requests.get(f"{url}/version", auth=admin, timeout=TIMEOUT).text.strip()[:40])
    assert requests.get(search, auth=admin, timeout=TIMEOUT).status_code == 200
    assert "mlflow_http_request_total" in requests.get(f"{url}/metrics", auth=admin, timeout=TIMEOUT).text
    for refused in (None, MLFLOW_DEFAULT, (admin[0], "wrong-password")):
        assert requests.get(search, auth=refused, timeout=TIMEOUT).status_code == 401, refused and refused[0]
    assert requests.get(f"{url}/metrics", timeout=TIMEOUT).status_code == 401


def test_model_api(live: Live, report: Report) -> None:
    """Model API: every replica serves metrics and says whether a model is loaded; its MLflow account only reads"""
    urls = [str(u) for u in live.outputs.get("modelApiUrls") or [live.out("modelApiUrl")]]
    for url in urls:
        assert "model_api_requests_total" in requests.get(f"{url}/metrics", timeout=TIMEOUT).text, url
        health = requests.get(f"{url}/health", timeout=TIMEOUT)
        status = health.json()
        # Not ready before the first training run has set the alias: "loading" (or "failing", with the reason).
        assert (health.status_code, status["status"]) in ((200, "ready"), (503, "loading"), (503, "failing")), status
        report.version("modelApi", f"{status.get('model', '-')} version {status.get('version', '-')}")
    reader = (live.out("mlflowModelApiUser"), live.out("mlflowModelApiPassword"))
    move = {"name": "any", "alias": "champion", "version": "1"}
    mlflow = live.out("mlflowUrl")
    answer = requests.post(f"{mlflow}/api/2.0/mlflow/registered-models/alias", json=move, auth=reader, timeout=TIMEOUT)
    assert answer.status_code == 403, answer.status_code


def redis_cli(live: Live, *args: str, user: str | None = None, password: str = "") -> str:
    """redis-cli in the stack's Redis container; the password passed through the environment
    (`docker exec -e NAME` copies it from this process), never on a command line."""
    command = ["docker", "exec", "-e", "REDISCLI_AUTH", live.container("redis"), "redis-cli", "--no-auth-warning"]
    done = subprocess.run(
        [*command, *(["--user", user] if user else []), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env={**os.environ, "REDISCLI_AUTH": password},
    )
    return (done.stdout + done.stderr).strip()


def test_redis(live: Live, report: Report) -> None:
    """Redis (the Celery broker): Airflow's account answers and may not administer it; the default
    account is off; every Celery worker is healthy"""
    user, password = live.out("redisAirflowUser"), live.out("redisAirflowPassword")
    assert redis_cli(live, "PING", user=user, password=password) == "PONG"
    info = redis_cli(live, "INFO", "server", user=user, password=password)
    version = next((line.split(":", 1)[1] for line in info.splitlines() if line.startswith("redis_version:")), None)
    assert version, info[:200]
    report.version("redis", version)
    assert "NOPERM" in redis_cli(live, "FLUSHALL", user=user, password=password)
    assert "WRONGPASS" in redis_cli(live, "PING", user=user, password="wrong-password")
    refused = redis_cli(live, "PING")  # the default account, no password
    assert "NOAUTH" in refused or "WRONGPASS" in refused, refused
    (scheduler,) = docker_json("inspect", live.container("airflow-scheduler")) or [{}]
    executors = [e for e in scheduler.get("Config", {}).get("Env", []) if e.startswith("AIRFLOW__CORE__EXECUTOR=")]
    if executors != ["AIRFLOW__CORE__EXECUTOR=CeleryExecutor"]:
        return  # Redis runs for nothing: Airflow runs its tasks in the scheduler
    workers = [name for name in live.images if name.startswith("airflow-worker-")]
    assert workers, "Airflow runs the CeleryExecutor but no Celery worker runs"
    for inspected in docker_json("inspect", *(live.container(name) for name in workers)):
        assert inspected["State"]["Health"]["Status"] == "healthy", inspected["Name"]


def test_prometheus(live: Live, report: Report) -> None:
    """Prometheus: every target it scrapes is up and the stack's alert rules are loaded"""
    url = live.out("prometheusUrl")
    build = requests.get(f"{url}/api/v1/status/buildinfo", timeout=TIMEOUT).json()["data"]
    report.version("prometheus", build["version"])

    def down() -> list[str]:
        targets = requests.get(f"{url}/api/v1/targets", timeout=TIMEOUT).json()["data"]["activeTargets"]
        return [f"{t['labels']['job']}: {t['lastError']}" for t in targets if t["health"] != "up"] or (
            [] if targets else ["no target"]
        )

    wait_until(lambda: not down(), 60, f"every target up (down: {down()})", interval=2)
    groups = requests.get(f"{url}/api/v1/rules", timeout=TIMEOUT).json()["data"]["groups"]
    names = {rule["name"] for group in groups for rule in group["rules"]}
    assert {"ModelApiDown", "ScrapeTargetDown", "DagRunFailed"} <= names, names


def test_grafana(live: Live, report: Report) -> None:
    """Grafana: healthy; anonymous requests refused; the admin sees the provisioned dashboards"""
    url = live.out("grafanaUrl")
    report.version("grafana", requests.get(f"{url}/api/health", timeout=TIMEOUT).json().get("version", "-"))
    assert requests.get(f"{url}/api/search", timeout=TIMEOUT).status_code == 401
    admin = (live.out("grafanaAdminUser"), live.out("grafanaAdminPassword"))
    found = requests.get(f"{url}/api/search", params={"tag": "mlops-stack"}, auth=admin, timeout=TIMEOUT).json()
    assert {"mlops-model-api", "mlops-platform", "mlops-pipelines"} <= {d["uid"] for d in found}, found


def test_phpmyadmin(live: Live) -> None:
    """phpMyAdmin: a MySQL account logs in through it and sees the databases; a wrong password does not"""
    url = live.out("phpmyadminUrl")
    session = phpmyadmin.log_in(url, "root", live.out("mysqlRootPassword"))
    assert session.logged_in, phpmyadmin.errors(session.page)
    assert "mysql" in session.databases()
    for wrong in ("", "wrong-password"):
        assert not phpmyadmin.log_in(url, "root", wrong).logged_in


def test_jenkins(live: Live, report: Report) -> None:
    """Jenkins: its admin reads the API; anonymous, admin/admin and a wrong password are refused"""
    url = live.out("jenkinsUrl")
    admin = (live.out("jenkinsAdminUser"), live.out("jenkinsAdminPassword"))
    answer = requests.get(f"{url}/api/json", auth=admin, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.status_code
    report.version("jenkins", answer.headers.get("X-Jenkins", "-"))
    assert requests.get(f"{url}/api/json", timeout=TIMEOUT).status_code in (401, 403)
    for refused in (JENKINS_DEFAULT, (admin[0], "wrong-password")):
        assert requests.get(f"{url}/api/json", auth=refused, timeout=TIMEOUT).status_code == 401, refused[0]


def test_jenkins_metrics(live: Live) -> None:
    """Jenkins' metrics: /prometheus/ answers the monitor account only, which may read nothing else"""
    url = live.out("jenkinsUrl")
    monitor = (live.out("jenkinsMonitorUser"), live.out("jenkinsMonitorPassword"))

    def collected() -> bool:  # the plugin serves what it collected, every 30 s (JCasC): empty at first
        metrics = requests.get(f"{url}/prometheus/", auth=monitor, timeout=TIMEOUT)
        assert metrics.status_code == 200, metrics.status_code
        return "default_jenkins_up" in metrics.text

    wait_until(collected, 90, "Jenkins' first metrics", interval=5, tolerate=(requests.RequestException,))
    assert requests.get(f"{url}/prometheus/", timeout=TIMEOUT).status_code == 403  # anonymous
    for path in ("/api/json", f"/job/{JENKINS_PIPELINE_JOB}/api/json", "/manage/"):
        assert requests.get(f"{url}{path}", auth=monitor, timeout=TIMEOUT).status_code == 403, path
