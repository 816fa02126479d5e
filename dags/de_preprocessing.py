"""DAG ``de_preprocessing``: run the de_datapreprocessing pipeline image, return the data version.

Task ``preprocess`` (DockerOperator) runs the image, whose entrypoint clones the
code repository, runs the job at ``code_ref``, pushes the data with DVC to S3,
commits the pointer, tags ``CV_<code message>_DV_<UTC time>`` and prints one JSON
line last; that line is the task's output (``do_xcom_push=True, xcom_all=False``).
Task ``data_version`` parses it and returns ``{"tag": ..., "data_md5": ...}``.

Trigger with params ``code_ref`` ("" = head of the branch) and ``git_branch``.

Configuration, read when the task runs unless said otherwise:
- Airflow connection ``gitbucket_default``: host = repository URL (e.g.
  ``http://gitbucket:8080/git/root/de_datapreprocessing.git``), login, password.
- Airflow connection ``minio_default`` (type aws): login = access key id, password =
  secret key, extra ``{"endpoint_url": "http://minio:9000"}`` (``region_name`` optional).
- Airflow Variable or env ``DE_PREPROCESSING_IMAGE``, default
  ``localhost:5000/de_datapreprocessing:latest`` (the host's engine pulls it, so the
  registry is addressed as the host sees it).
- Airflow Variable or env ``DE_PREPROCESSING_DVC_REMOTE_URL``, default
  ``s3://de-datapreprocessing/dvcstore``.
- env ``MLOPS_DOCKER_NETWORK`` (read when the file is parsed): the network the container
  joins, so ``gitbucket`` and ``minio`` resolve; unset = Docker's default bridge.
- env ``DE_PREPROCESSING_FORCE_PULL`` (parse time), default ``true``: pull ``:latest``
  before every run.
- env ``DE_PREPROCESSING_REGISTRY_CONN_ID`` (parse time), unset = pull without logging in:
  an Airflow ``docker`` connection (host = registry server, port, login, password) that
  DockerOperator logs in with before it pulls; the stack sets it for an external registry
  with credentials.
- Airflow connection ``mlflow_default`` (when the stack runs MLflow; env
  ``MLOPS_MLFLOW_CONN_ID`` names it, parse time): host = tracking URI, login and
  password of the pipeline account. The job then records the data version's lineage
  in MLflow, and fails before it tags if MLflow does not take it.

How the secrets reach the container without being rendered or stored: see
``mlops_operators.py``.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param

# The names the platform sets (components/airflow.py imports the same module). Its
# folder is put on the path here: not every parser of a bundle adds the bundle root.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))
from mlops_operators import DEFAULT_DVC_REMOTE_URL, DEFAULT_IMAGE, data_version, preprocess_operator

with DAG(
    dag_id="de_preprocessing",
    description="Preprocess data at a code version, version it with DVC, tag CV_<code>_DV_<time>",
    schedule=None,
    catchup=False,
    tags=["mlops", "dvc"],
    doc_md=__doc__,
    user_defined_macros={"default_image": DEFAULT_IMAGE, "default_dvc_remote_url": DEFAULT_DVC_REMOTE_URL},
    params={
        "code_ref": Param("", type="string", description="Branch, tag or commit of the code; empty = branch head"),
        "git_branch": Param("main", type="string", minLength=1, description="Branch to version the data on"),
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
) as dag:
    preprocess = preprocess_operator()
    data_version(preprocess.output)
