"""End to end, the model loop: both pipeline images built by their Jenkinsfiles (under the
JENKINS STAND-IN) and pushed to the stack's registry; the ``ml_training`` DAG, read from
the seeded DAG repo, preprocesses, trains, registers and promotes; then the lineage chain
is followed through MLflow's REST API, from the ``champion`` alias down to the git commit
of the data and the data object in S3. A second run on the same data and code leaves the
alias where it is; a data tag that does not exist fails the run, naming the tag. The model
API serves the champion with that lineage, and Prometheus watches all of it: every target
up, a prediction in its metrics within a scrape interval plus 5 s, the failed run as an
alert, every dashboard panel's query returning series.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from pulumi import automation as auto

from components import grafana
from mlops_clients import gitbucket, s3
from tests.e2e.pipelines import jenkins_build
from tests.support.airflow_api import AirflowAPI, run_dag, run_to_success, task_log, wait_for_dag, xcom

pytestmark = pytest.mark.e2e
DAG = "ml_training"
MODEL = "churn_model"
TIMEOUT = 30
API_FOLLOW_SECONDS = 120  # its poll interval in Pulumi.e2e.yaml plus a download and a load


class MLflowAPI:
    def __init__(self, url: str, account: tuple[str, str] | None) -> None:
        self.url, self.account = url, account

    def get(self, path: str, **params: str) -> dict[str, Any]:
        answer = requests.get(f"{self.url}/api/2.0/mlflow/{path}", params=params, auth=self.account, timeout=TIMEOUT)
        assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"
        return dict(answer.json())

    def run(self, run_id: str) -> dict[str, Any]:
        run = self.get("runs/get", run_id=run_id)["run"]
        run["tags"] = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
        return dict(run)


def served_by_the_api(url: str, version: str) -> dict[str, Any]:
    """The API's /metadata once it serves `version` (it polls the alias), after a prediction by it."""
    deadline = time.monotonic() + API_FOLLOW_SECONDS
    meta: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = requests.get(f"{url}/metadata", timeout=TIMEOUT)
        meta = answer.json() if answer.status_code == 200 else {"status": answer.status_code}
        if str(meta.get("version")) == version:
            break
        time.sleep(2)
    assert str(meta.get("version")) == version, f"the model API did not serve version {version}: {meta}"
    row = dict.fromkeys(meta["features"], 1.0)
    answer = requests.post(f"{url}/predict", json={"dataframe_records": [row]}, timeout=TIMEOUT)
    assert answer.status_code == 200 and str(answer.json()["model"]["version"]) == version, answer.text[:300]
    return meta


class PrometheusAPI:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=TIMEOUT)
        assert answer.status_code == 200, f"{expr}: {answer.status_code} {answer.text[:300]}"
        return list(answer.json()["data"]["result"])

    def value(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else 0.0


def watched_by_prometheus(out: dict[str, Any], scrape_interval: str) -> None:
    """Every target up; a prediction in Prometheus within a scrape interval plus 5 s; the failed
    run as the DagRunFailed alert; every dashboard panel's query returning series."""
    prom = PrometheusAPI(str(out["prometheusUrl"]))
    interval = float(scrape_interval.removesuffix("s"))  # Pulumi.e2e.yaml: seconds

    def targets_down() -> list[str]:
        answer = requests.get(f"{prom.url}/api/v1/targets", timeout=TIMEOUT).json()["data"]["activeTargets"]
        return [f"{t['labels']['job']} {t['scrapeUrl']}: {t['lastError']}" for t in answer if t["health"] != "up"]

    deadline = time.monotonic() + 4 * interval + 10
    while targets_down() and time.monotonic() < deadline:
        time.sleep(1)
    assert not targets_down(), targets_down()
    jobs = {r["metric"]["job"] for r in prom.query("up")}
    assert jobs == {"prometheus", "mysql", "minio", "mlflow", "registry", "airflow", "model-api"}, jobs

    predicted = 'sum(model_api_requests_total{endpoint="/predict", status="200"})'
    before = prom.value(predicted)
    api = str(out["modelApiUrl"])
    features = requests.get(f"{api}/metadata", timeout=TIMEOUT).json()["features"]
    body = {"dataframe_records": [dict.fromkeys(features, 0.5)]}
    assert requests.post(f"{api}/predict", json=body, timeout=TIMEOUT).status_code == 200
    sent = time.monotonic()
    while prom.value(predicted) <= before and time.monotonic() - sent < interval + 5:
        time.sleep(0.25)
    assert prom.value(predicted) > before, f"the prediction did not show within {interval + 5:g} s"

    def firing(name: str) -> list[dict[str, Any]]:
        alerts = requests.get(f"{prom.url}/api/v1/alerts", timeout=TIMEOUT).json()["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"]

    deadline = time.monotonic() + 4 * interval + 10
    while not firing("DagRunFailed") and time.monotonic() < deadline:
        time.sleep(1)
    assert [a["labels"]["dag_id"] for a in firing("DagRunFailed")] == [DAG]

    empty: list[str] = []
    for file, text in grafana.dashboards().items():
        for panel in json.loads(text)["panels"]:
            for target in panel["targets"]:
                if not prom.query(target["expr"]):
                    empty.append(f"{file} '{panel['title']}': {target['expr']}")
    assert not empty, "panels without series:\n" + "\n".join(empty)


def test_a_dag_run_trains_registers_and_promotes_with_the_whole_lineage(stack: auto.Stack, tmp_path: Path) -> None:
    stack.up(on_output=print)  # a no-op after the other tests; a cold up when run alone
    out = {k: v.value for k, v in stack.outputs().items()}
    for repo in ("de_datapreprocessing", "ds_mlmodeling"):
        jenkins_build(out, tmp_path, repo)
    airflow = AirflowAPI(str(out["airflowUrl"]), str(out["airflowAdminUser"]), str(out["airflowAdminPassword"]))
    wait_for_dag(airflow, DAG)

    promoted = run_to_success(airflow, DAG, {}, "train", "promotion")
    assert promoted["promoted"] is True, promoted
    version = str(promoted["model_version"])

    # The chain, as a person with the admin account follows it.
    mlflow = MLflowAPI(str(out["mlflowUrl"]), (str(out["mlflowAdminUser"]), str(out["mlflowAdminPassword"])))
    champion = mlflow.get("registered-models/alias", name=MODEL, alias="champion")["model_version"]
    assert champion["version"] == version
    training = mlflow.run(champion["run_id"])
    served = served_by_the_api(str(out["modelApiUrl"]), version)
    assert served["run_id"] == champion["run_id"] and served["alias"] == "champion"
    [training_input] = training["inputs"]["dataset_inputs"]
    data_run = mlflow.run(training["tags"]["mlops.data_run_id"])
    [data_input] = data_run["inputs"]["dataset_inputs"]
    md5, tag = data_run["tags"]["mlops.data_md5"], data_run["tags"]["mlops.data_tag"]
    assert training_input["dataset"]["digest"] == data_input["dataset"]["digest"] == md5
    assert training_input["dataset"]["source"] == data_input["dataset"]["source"]
    assert json.loads(data_input["dataset"]["source"])["tag"] == tag
    assert training["tags"]["mlops.data_tag"] == tag
    # Given a tag, its run; the tag's annotation names the run back.
    found = requests.post(
        f"{mlflow.url}/api/2.0/mlflow/runs/search",
        json={
            "experiment_ids": [data_run["info"]["experiment_id"]],
            "filter": f"tags.\"mlops.data_tag\" = '{tag}'",
        },
        auth=mlflow.account,
        timeout=TIMEOUT,
    ).json()["runs"]
    assert [r["info"]["run_id"] for r in found] == [data_run["info"]["run_id"]]
    # The API's lineage is the registry's: data tag, its digest and the code commit.
    assert (served["data_tag"], served["data_md5"]) == (tag, md5)
    assert served["code_commit"] == training["tags"]["mlops.code_commit"]
    assert served["dataset_digest"] == training_input["dataset"]["digest"]
    # Down to git: the code commit exists in the code repo, and the tag says which run it has.
    user, password = str(out["gitbucketRootUser"]), str(out["gitbucketRootPassword"])
    work = tmp_path / "lineage"
    clone = gitbucket.run_git(["clone", "--quiet", str(out["appRepoCloneUrl"]), str(work)], None, user, password)
    assert clone.returncode == 0, clone.stderr
    code_commit = data_run["tags"]["mlops.code_commit"]
    assert gitbucket.run_git(["cat-file", "-e", f"{code_commit}^{{commit}}"], work, user, password).returncode == 0
    annotation = gitbucket.run_git(["tag", "-l", "--format=%(contents)", tag], work, user, password).stdout
    assert f"MLflow-Run-Id: {data_run['info']['run_id']}" in annotation
    # Down to the data object in S3.
    dvc = s3.s3_client(str(out["minioS3Url"]), str(out["dvcAccessKey"]), str(out["dvcSecretKey"]))
    assert dvc.head_object(Bucket="de-datapreprocessing", Key=f"dvcstore/files/md5/{md5[:2]}/{md5[2:]}")
    # The data run holds the .dvc pointer as an artifact (through the server's proxy).
    listed = mlflow.get("artifacts/list", run_id=data_run["info"]["run_id"])
    assert "features.csv.dvc" in [f["path"] for f in listed.get("files", [])]
    decision = {t["key"]: t["value"] for t in mlflow.get("model-versions/get", name=MODEL, version=version)[
        "model_version"
    ].get("tags", [])}  # fmt: skip
    assert decision["mlops.promotion"] == "promoted"

    # Same data, same code: the new version does not beat the champion; the alias stays.
    again = run_to_success(airflow, DAG, {"data_tag": tag}, "train", "promotion")
    assert again["promoted"] is False and str(again["model_version"]) != version
    assert mlflow.get("registered-models/alias", name=MODEL, alias="champion")["model_version"]["version"] == version

    # A data tag that does not exist: the run fails, and says which tag.
    missing = "CV_no-such-code_DV_20000101T000000Z"
    state, run_id = run_dag(airflow, DAG, {"data_tag": missing})
    assert state == "failed"
    train = airflow.call("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/train").json()
    # A task log is read from its worker: only the main host's workers are reachable for that
    # (README, "Workers on further hosts"); the session's stack also has one on a second engine.
    if re.fullmatch(r"airflow-worker-\d+", str(train["hostname"])):  # its last try's
        assert missing in task_log(airflow, DAG, run_id, "train", attempt=int(train["try_number"]))
    assert xcom(airflow, DAG, run_id, "check_params")["data_tag"] == missing

    # Monitoring sees all of it (Grafana itself cannot run offline: its dashboards' queries do).
    watched_by_prometheus(out, stack.get_config("prometheus.scrapeInterval", path=True).value)
