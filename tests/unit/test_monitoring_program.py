"""Prometheus and the metrics the services expose to it, under Pulumi's mocks."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from components import grafana, prometheus
from components.config import ConfigError
from tests.unit.conftest import BASE_CONFIG, Evaluation, env_of, evaluate, is_secret, plain
from tests.unit.test_program import COMMAND, CONTAINER, _contains, _plaintext_paths

MONITOR_PASSWORD = "mock-secret-mysql-monitor-password"


def scrape_jobs(evaluation: Evaluation) -> dict[str, dict[str, Any]]:
    uploads = {u["file"]: u["content"] for u in plain(evaluation.named("prometheus-server").inputs["uploads"])}
    config = yaml.safe_load(uploads[prometheus.CONFIG_FILE])
    assert config["rule_files"] == [prometheus.RULES_FILE]
    assert uploads[prometheus.RULES_FILE] == prometheus.RULES_SOURCE.read_text()
    return {job["job_name"]: job for job in config["scrape_configs"]}


def targets(job: dict[str, Any]) -> list[str]:
    return [t for group in job["static_configs"] for t in group["targets"]]


def test_prometheus_scrapes_every_enabled_service_on_the_network_only(dev: Evaluation) -> None:
    jobs = scrape_jobs(dev)
    assert {name: (targets(job), job.get("metrics_path", "/metrics")) for name, job in jobs.items()} == {
        "prometheus": (["localhost:9090"], "/metrics"),
        "mysql": (["mysql-exporter:9104"], "/metrics"),
        "minio": (["minio:9000"], "/minio/v2/metrics/cluster"),
        "mlflow": (["mlflow-metrics:9100"], "/metrics"),
        "registry": (["registry:5001"], "/metrics"),
        "airflow": (["airflow-statsd:9102"], "/metrics"),
        "model-api": (["model-api-1:8000"], "/metrics"),
        "jenkins": (["jenkins:8080"], "/prometheus/"),
    }
    # Every alert's job exists: the rules and the generated config agree.
    used = set(re.findall(r'job="([^"]+)"', prometheus.RULES_SOURCE.read_text()))
    assert used and used <= set(jobs), used - set(jobs)
    # Of the monitoring containers only Prometheus is published (its UI and API, on the bind address).
    for name in ("mysql-exporter", "airflow-statsd", "mlflow-metrics"):
        assert not dev.named(name).inputs.get("ports"), name
        assert dev.named(name).inputs["memory"] <= 128, name
    [published] = dev.named("prometheus-server").inputs["ports"]
    assert (published["internal"], published["external"], published["ip"]) == (9090, 9090, "127.0.0.1")
    assert dev.outputs["prometheusUrl"] == "http://127.0.0.1:9090"


def test_a_disabled_service_is_no_target_and_without_prometheus_nothing_is_exposed() -> None:
    without_api = evaluate({**BASE_CONFIG, "modelApi": {"enabled": False}, "airflow": {"enabled": False}})
    assert set(scrape_jobs(without_api)) == {"prometheus", "mysql", "minio", "mlflow", "registry", "jenkins"}
    off = evaluate({**BASE_CONFIG, "prometheus": {"enabled": False}, "grafana": {"enabled": False}})
    names = {r.name for r in off.resources.values()}
    assert not names & {
        "prometheus-server",
        "mysql-exporter",
        "airflow-statsd",
        "mlflow-metrics",
        "mysql-monitor-account",
    }
    assert "MINIO_PROMETHEUS_AUTH_TYPE" not in env_of(off.named("minio-server"))
    assert not [k for k in env_of(off.named("airflow-scheduler")) if k.startswith("AIRFLOW__METRICS__")]
    assert "prometheusUrl" not in off.outputs


def test_airflow_sends_statsd_to_its_exporter_which_it_waits_for(dev: Evaluation) -> None:
    exporter = dev.named("airflow-statsd")
    for process in ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        env = env_of(dev.named(process))
        assert env["AIRFLOW__METRICS__STATSD_ON"] == "True" and env["AIRFLOW__METRICS__STATSD_HOST"] == "airflow-statsd"
        assert env["AIRFLOW__METRICS__STATSD_PORT"] == "9125"
        assert dev.depends_on(dev.named(process), exporter), process
    scheduler = env_of(dev.named("airflow-scheduler"))
    assert scheduler["AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED"] == "True"  # tags as labels
    assert env_of(dev.named("minio-server"))["MINIO_PROMETHEUS_AUTH_TYPE"] == "public"


def test_the_mysql_exporter_logs_in_as_its_own_account_from_a_file() -> None:
    dev = evaluate(BASE_CONFIG)
    holders = sorted(
        r.name
        for r in dev.resources.values()
        if r.type in (CONTAINER, COMMAND) and _contains(r.inputs, MONITOR_PASSWORD)
    )
    assert holders == ["mysql-exporter", "mysql-monitor-account"]
    exporter = dev.named("mysql-exporter")
    assert _plaintext_paths(exporter.inputs, MONITOR_PASSWORD) == []
    assert not _contains(exporter.inputs.get("command"), MONITOR_PASSWORD)
    [my_cnf] = plain(exporter.inputs["uploads"])
    assert "user=mlops_monitor\n" in my_cnf["content"] and "host=mysql\n" in my_cnf["content"]
    assert plain(exporter.inputs["command"]) == [
        "--config.my-cnf=/etc/mysqld-exporter/my.cnf",
        "--no-collect.slave_status",
    ]
    account = plain(dev.named("mysql-monitor-account").inputs["environment"])
    assert account["DB_USER"] == "mlops_monitor"
    assert dev.depends_on(exporter, dev.named("mysql-monitor-account"))


JENKINS_MONITOR_PASSWORD = "mock-secret-jenkins-monitor-password"


def test_jenkins_is_scraped_with_its_monitor_account_from_a_password_file(dev: Evaluation) -> None:
    job = scrape_jobs(dev)["jenkins"]
    assert job["basic_auth"] == {"username": "mlops-monitor", "password_file": "/etc/prometheus/secrets/jenkins"}
    server = dev.named("prometheus-server")
    uploads = {u["file"]: u["content"] for u in plain(server.inputs["uploads"])}
    assert uploads["/etc/prometheus/secrets/jenkins"] == JENKINS_MONITOR_PASSWORD
    assert JENKINS_MONITOR_PASSWORD not in uploads[prometheus.CONFIG_FILE]
    holders = sorted(r.name for r in dev.of_type(CONTAINER) if _contains(r.inputs, JENKINS_MONITOR_PASSWORD))
    assert holders == ["jenkins-server", "prometheus-server"]
    for name in holders:
        assert _plaintext_paths(dev.named(name).inputs, JENKINS_MONITOR_PASSWORD) == [], name
    env = env_of(dev.named("jenkins-server"))
    assert (env["JENKINS_MONITOR_ID"], env["JENKINS_MONITOR_PASSWORD"]) == ("mlops-monitor", JENKINS_MONITOR_PASSWORD)
    assert dev.outputs["jenkinsMonitorUser"] == "mlops-monitor" and is_secret(dev.outputs["jenkinsMonitorPassword"])


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"prometheus": {"retention": "two weeks"}}, "'prometheus.retention' must be a Prometheus duration"),
        ({"prometheus": {"scrapeInterval": 15}}, "'prometheus.scrapeInterval' must be a Prometheus duration"),
        ({"mysql": {"exporterImage": "Bad Image"}}, "'mysql.exporterImage' is not a valid image reference"),
        ({"airflow": {"statsdExporterImage": ""}}, "'airflow.statsdExporterImage' is not a valid image reference"),
        ({"prometheus": {"port": 9000}}, "host port 9000 is used by both minio.port and prometheus.port"),
    ],
)
def test_bad_monitoring_settings_are_refused_naming_the_key(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate({**BASE_CONFIG, **config})
    assert any(problem in p for p in raised.value.problems), raised.value.problems


def panel_queries() -> list[tuple[str, str, dict[str, Any]]]:
    """(dashboard file, panel title, datasource) of every query of the repo's dashboards."""
    return [
        (file, panel["title"], target["datasource"])
        for file, text in grafana.dashboards().items()
        for panel in json.loads(text)["panels"]
        for target in panel["targets"]
    ]


def test_grafana_is_provisioned_from_files_with_no_anonymous_access(dev: Evaluation) -> None:
    server = dev.named("grafana-server")
    files = {u["file"]: u["content"] for u in plain(server.inputs["uploads"])}
    [source] = yaml.safe_load(files["/etc/grafana/provisioning/datasources/prometheus.yaml"])["datasources"]
    assert (source["uid"], source["url"], source["editable"]) == ("prometheus", "http://prometheus:9090", False)
    [provider] = yaml.safe_load(files["/etc/grafana/provisioning/dashboards/mlops-stack.yaml"])["providers"]
    assert provider["allowUiUpdates"] is False and provider["options"]["path"] == grafana.DASHBOARDS_DIR
    shipped = {f.removeprefix(grafana.DASHBOARDS_DIR + "/") for f in files if f.startswith(grafana.DASHBOARDS_DIR)}
    assert shipped == {"model-api.json", "platform.json", "pipelines.json"}
    env = env_of(server)
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false" and env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "mock-secret-grafana-admin-password"
    assert _plaintext_paths(server.inputs, "mock-secret-grafana-admin-password") == []
    assert dev.outputs["grafanaUrl"] == "http://127.0.0.1:3000" and is_secret(dev.outputs["grafanaAdminPassword"])
    assert not server.inputs.get("volumes")  # its state is the files: a new container starts from them


def test_every_panel_queries_the_provisioned_datasource() -> None:
    queries = panel_queries()
    assert len(queries) >= 20
    for file, title, source in queries:
        assert source == {"type": "prometheus", "uid": grafana.DATASOURCE_UID}, (file, title)
    uids = [json.loads(text)["uid"] for text in grafana.dashboards().values()]
    assert len(set(uids)) == len(uids)


def test_grafana_needs_prometheus() -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate({**BASE_CONFIG, "prometheus": {"enabled": False}})
    assert raised.value.problems == ["grafana is enabled but needs prometheus, which is disabled"]
