"""The data loop on the live stack: a DAG run to a tag, and that tag's data restored by `dvc pull`
from a fresh clone, as a user gets a data version back (README, "The data loop")."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from mlops_clients import gitbucket
from tests.acceptance.live import TIMEOUT, Live
from tests.acceptance.report import Report
from tests.support.airflow_api import AirflowAPI, run_to_success, wait_for_dag

pytestmark = pytest.mark.acceptance

DAG = "de_preprocessing"
IMAGE = "de_datapreprocessing"
DATA_PATH = "data/processed/features.csv"  # what the job versions (the seeded repo's README)
DVC_REMOTE = "storage"  # the seeded repo's .dvc/config


def test_dag_run_to_a_tag_restorable_with_dvc_pull(live: Live, report: Report, tmp_path: Path) -> None:
    """Data loop: a de_preprocessing run tags the code; a clone at the tag restores the data with dvc pull"""
    live.require("airflow", "gitbucket", "minio")
    if "registryUrl" in live.outputs:
        login = (live.out("registryUser"), live.out("registryPassword"))
        tags = requests.get(f"{live.out('registryUrl')}/v2/{IMAGE}/tags/list", auth=login, timeout=TIMEOUT)
        if tags.status_code != 200 or "latest" not in (tags.json().get("tags") or []):
            pytest.skip(
                f"no {IMAGE}:latest in the stack's registry yet: Jenkins builds it on a push to main; "
                "without Jenkins run scripts/push_images.py <stack> (README, 'The data loop')"
            )
    airflow = AirflowAPI(live.out("airflowUrl"), live.out("airflowAdminUser"), live.out("airflowAdminPassword"))
    wait_for_dag(airflow, DAG)
    started = time.time()
    version = dict(run_to_success(airflow, DAG, {}, "preprocess", "data_version"))
    report.timing("de_preprocessing run, trigger to tag", time.time() - started)
    tag, md5 = str(version["tag"]), str(version["data_md5"])
    assert tag.startswith("CV_") and "_DV_" in tag, tag

    user, password = live.out("gitbucketRootUser"), live.out("gitbucketRootPassword")
    clone = tmp_path / "clone"
    cloned = gitbucket.run_git(
        ["clone", "--quiet", "--branch", tag, live.out("appRepoCloneUrl"), str(clone)], None, user, password
    )
    assert cloned.returncode == 0, cloned.stderr[-300:]
    dvc = [sys.executable, "-m", "dvc"]
    endpoint = [*dvc, "remote", "modify", "--local", DVC_REMOTE, "endpointurl", live.out("minioS3Url")]
    subprocess.run(endpoint, cwd=clone, check=True, capture_output=True, timeout=120)
    # The dvc user's key through the environment, never argv (README, "The data loop").
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": live.out("dvcAccessKey"),
        "AWS_SECRET_ACCESS_KEY": live.out("dvcSecretKey"),
        "DVC_NO_ANALYTICS": "1",
    }
    pulled = subprocess.run([*dvc, "pull"], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert pulled.returncode == 0, pulled.stderr[-500:]
    data = (clone / DATA_PATH).read_bytes()
    assert hashlib.md5(data, usedforsecurity=False).hexdigest() == md5, "the pulled data is not the tagged version"
