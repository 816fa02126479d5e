"""The monitoring files in the real tools: the alert rules under `promtool test rules`, the
generated scrape configuration under `promtool check config`, and Airflow's StatsD lines
(InfluxDB-style tags, as the stack configures Airflow) turned by statsd_exporter into the
labelled series the DagRunFailed alert and the pipelines dashboard read."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from components import airflow, prometheus
from components.spec import ScrapeJob
from tests.support.containers import docker_client, host_port, require_image, running, wait_until

pytestmark = pytest.mark.integration
MONITORING = prometheus.RULES_SOURCE.parent


def tool(image: str, entrypoint: str, *args: str, files: Path = MONITORING) -> tuple[int, str]:
    client = docker_client()
    container = client.containers.run(
        image,
        entrypoint=entrypoint,
        command=list(args),
        volumes={str(files): {"bind": "/m", "mode": "ro"}},
        working_dir="/m",
        detach=True,
        labels={"mlops.test": "true"},
    )
    try:
        code = int(container.wait(timeout=120)["StatusCode"])
        return code, container.logs().decode()
    finally:
        container.remove(force=True, v=True)  # and the image's anonymous /prometheus volume


def test_the_alert_rules_pass_their_promtool_tests() -> None:
    image = require_image(docker_client(), "prometheus")
    code, output = tool(image, "/bin/promtool", "test", "rules", "alerts.test.yml")
    assert code == 0, output
    code, output = tool(image, "/bin/promtool", "check", "rules", "alerts.yml")
    assert code == 0 and "SUCCESS: 7 rules found" in output, output


def test_the_generated_scrape_config_is_valid(tmp_path: Path) -> None:
    image = require_image(docker_client(), "prometheus")
    jobs = [ScrapeJob("model-api", ("model-api-1:8000", "model-api-2:8000")), ScrapeJob("minio", ("minio:9000",), "/x")]
    config = prometheus.scrape_config(jobs, "15s").replace(prometheus.RULES_FILE, "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(config)
    (tmp_path / "alerts.yml").write_text(prometheus.RULES_SOURCE.read_text())
    tmp_path.chmod(0o755)
    code, output = tool(image, "/bin/promtool", "check", "config", "prometheus.yml", files=tmp_path)
    assert code == 0, output


def test_airflow_statsd_lines_become_the_series_the_alerts_and_dashboards_read() -> None:
    client = docker_client()
    image = require_image(client, "statsd-exporter")
    with running(
        client,
        image,
        command=[f"--statsd.listen-udp=:{airflow.STATSD_PORT}", "--statsd.listen-tcp="],
        ports={
            f"{airflow.STATSD_PORT}/udp": ("127.0.0.1", None),
            f"{airflow.STATSD_METRICS_PORT}/tcp": ("127.0.0.1", None),
        },
    ) as exporter:
        url = f"http://127.0.0.1:{host_port(exporter, f'{airflow.STATSD_METRICS_PORT}/tcp')}/metrics"
        wait_until(lambda: requests.get(url, timeout=2).ok, 30, "statsd_exporter")
        udp = ("127.0.0.1", host_port(exporter, f"{airflow.STATSD_PORT}/udp"))
        dag = f"dag_{uuid.uuid4().hex[:6]}"
        # What Airflow 3.3's StatsD client sends with the stack's settings (prefix airflow,
        # InfluxDB-style tags) when a run fails and when a task finishes.
        lines = [
            f"airflow.dagrun.duration.failed,dag_id={dag},run_type=manual:1234|ms",
            f"airflow.ti.finish,dag_id={dag},task_id=train,state=failed:1|c",
            "airflow.scheduler_heartbeat:1|c",
        ]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:

            def sent_and_seen() -> str | None:
                for line in lines:
                    sender.sendto(line.encode(), udp)
                text = requests.get(url, timeout=2).text
                return text if f'dag_id="{dag}"' in text and "airflow_ti_finish" in text else None

            metrics = wait_until(sent_and_seen, 30, "the DAG's series")
        families = {f.name: f for f in text_string_to_metric_families(metrics)}
        failed = [s for s in families["airflow_dagrun_duration_failed"].samples if s.name.endswith("_count")]
        assert [(s.labels["dag_id"], s.labels["run_type"]) for s in failed] == [(dag, "manual")]
        # The name PromQL sees (the parser above adds _total to counters' samples).
        assert f'airflow_ti_finish{{dag_id="{dag}",state="failed",task_id="train"}} 1' in metrics
        assert "airflow_scheduler_heartbeat" in families
