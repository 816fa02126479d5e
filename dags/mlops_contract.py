"""Names the platform (components/airflow.py) and the pipelines in this repo share.

Imported by both sides: the program sets these connections and variables in
the scheduler's environment, the pipeline files read them. Standard library only.
"""

from __future__ import annotations

from enum import StrEnum


class ConnId(StrEnum):
    """Connections, given as AIRFLOW_CONN_<ID> variables (never stored in the metadata database)."""

    GIT = "gitbucket_default"  # the preprocessing repo: the job clones it and pushes its tag
    DAGS_GIT = "gitbucket_dags"  # this repo, read by the git bundle
    S3 = "minio_default"  # the DVC remote, as the bucket-scoped dvc user
    REGISTRY = "registry_default"  # a registry login, when the registry wants one
    MLFLOW = "mlflow_default"  # the tracking server, as the pipeline account (host = tracking URI)


class Env(StrEnum):
    """Variables the pipelines read at parse time."""

    IMAGE = "DE_PREPROCESSING_IMAGE"
    TRAINING_IMAGE = "DS_MLMODELING_IMAGE"
    MLFLOW_CONN_ID = "MLOPS_MLFLOW_CONN_ID"  # set when the stack runs MLflow
    REGISTRY_CONN_ID = "DE_PREPROCESSING_REGISTRY_CONN_ID"
    DVC_REMOTE_URL = "DE_PREPROCESSING_DVC_REMOTE_URL"
    FORCE_PULL = "DE_PREPROCESSING_FORCE_PULL"
    NETWORK = "MLOPS_DOCKER_NETWORK"


def connection_variable(conn_id: str) -> str:
    """The environment variable a connection is read from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"
