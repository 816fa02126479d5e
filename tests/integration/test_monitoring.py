"""The monitoring files in the real tools: the alert rules under `promtool test rules`, the
generated scrape configuration under `promtool check config`, the StatsD mapping under
statsd_exporter's own check, and Airflow's StatsD lines turned into the series the
DagRunFailed alert reads."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
import requests

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
        container.remove(force=True)


def test_the_alert_rules_pass_their_promtool_tests() -> None:
    image = require_image(docker_client(), "prometheus")
    code, output = tool(image, "/bin/promtool", "test", "rules", "alerts.test.yml")
    assert code == 0, output
    code, output = tool(image, "/bin/promtool", "check", "rules", "alerts.yml")
    assert code == 0 and "SUCCESS: 6 rules found" in output, output


def test_the_generated_scrape_config_is_valid(tmp_path: Path) -> None:
    image = require_image(docker_client(), "prometheus")
    jobs = [ScrapeJob("model-api", ("model-api-1:8000", "model-api-2:8000")), ScrapeJob("minio", ("minio:9000",), "/x")]
    config = prometheus.scrape_config(jobs, "15s").replace(prometheus.RULES_FILE, "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(config)
    (tmp_path / "alerts.yml").write_text(prometheus.RULES_SOURCE.read_text())
    tmp_path.chmod(0o755)
    code, output = tool(image, "/bin/promtool", "check", "config", "prometheus.yml", files=tmp_path)
    assert code == 0, output


def test_airflow_statsd_lines_become_the_series_the_alerts_read() -> None:
    client = docker_client()
    image = require_image(client, "statsd-exporter")
    mapping = airflow.STATSD_MAPPING
    with running(
        client,
        image,
        command=[
            f"--statsd.mapping-config=/m/{mapping.name}",
            f"--statsd.listen-udp=:{airflow.STATSD_PORT}",
            "--statsd.listen-tcp=",
        ],
        volumes={str(mapping.parent): {"bind": "/m", "mode": "ro"}},
        ports={
            f"{airflow.STATSD_PORT}/udp": ("127.0.0.1", None),
            f"{airflow.STATSD_METRICS_PORT}/tcp": ("127.0.0.1", None),
        },
    ) as exporter:
        url = f"http://127.0.0.1:{host_port(exporter, f'{airflow.STATSD_METRICS_PORT}/tcp')}/metrics"
        wait_until(lambda: requests.get(url, timeout=2).ok, 30, "statsd_exporter")
        udp = ("127.0.0.1", host_port(exporter, f"{airflow.STATSD_PORT}/udp"))
        dag = f"dag_{uuid.uuid4().hex[:6]}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:

            def sent_and_seen() -> bool:
                # What Airflow's StatsD client sends (prefix airflow) when a run fails and ends.
                sender.sendto(f"airflow.dagrun.duration.failed.{dag}:1234|ms".encode(), udp)
                sender.sendto(b"airflow.scheduler_heartbeat:1|c", udp)
                return f'airflow_dagrun_failed_count{{dag_id="{dag}"}}' in requests.get(url, timeout=2).text

            wait_until(sent_and_seen, 30, "the mapped DAG-failure series")
        metrics = requests.get(url, timeout=5).text
        assert "airflow_scheduler_heartbeat" in metrics
