"""The operator every pipeline DAG of the platform runs its images with.

Not a DAG (listed in .airflowignore). Imported by the DAG files of this folder,
which put the folder on sys.path first.

Why the secrets are read in ``execute`` and not with ``{{ conn.minio_default.password }}``:
DockerOperator (providers-docker 4.6.1) does not template ``private_environment``,
so Jinja there would reach the container as literal text; putting the secrets in
the templated ``environment`` instead would store them in the rendered template
fields of every task instance. ``PipelineOperator.execute`` looks the connections
up through the Task SDK (``BaseHook.get_connection``) when the task runs (never at
parse time, so the DAG imports without them) and hands the secrets to the
container as private environment, which DockerOperator neither renders nor logs;
the SDK also registers connection passwords with the log secrets masker.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk import BaseHook, task
from mlops_contract import ConnId, Env

NETWORK = os.environ.get(Env.NETWORK) or None
REGISTRY_CONN_ID = os.environ.get(Env.REGISTRY_CONN_ID) or None
MLFLOW_CONN_ID = os.environ.get(Env.MLFLOW_CONN_ID) or None
DEFAULT_IMAGE = os.environ.get(Env.IMAGE) or "localhost:5000/de_datapreprocessing:latest"
DEFAULT_DVC_REMOTE_URL = os.environ.get(Env.DVC_REMOTE_URL) or "s3://de-datapreprocessing/dvcstore"
FORCE_PULL = (os.environ.get(Env.FORCE_PULL) or "true").strip().lower() in ("1", "true", "yes")


def connection_url(connection: Any, conn_id: str, what: str) -> str:
    """A connection's host as a URL (``http://`` unless its schema says otherwise)."""
    url = (connection.host or "").strip()
    if not url:
        raise ValueError(f"connection {conn_id!r} has no host ({what})")
    return url if "://" in url else f"{connection.schema or 'http'}://{url}"


def git_environment(conn_id: str, url_variable: str) -> tuple[dict[str, str], dict[str, str]]:
    git = BaseHook.get_connection(conn_id)
    repo_url = connection_url(git, conn_id, "the repository URL")
    return {url_variable: repo_url, "GIT_USERNAME": git.login or ""}, {"GIT_PASSWORD": git.password or ""}


def s3_environment(conn_id: str) -> tuple[dict[str, str], dict[str, str]]:
    s3 = BaseHook.get_connection(conn_id)
    extra = s3.extra_dejson or {}
    endpoint = extra.get("endpoint_url") or extra.get("service_config", {}).get("s3", {}).get("endpoint_url") or ""
    if not endpoint:
        raise ValueError(f"connection {conn_id!r} has no endpoint_url in its extra")
    environment = {"DVC_S3_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": extra.get("region_name") or "us-east-1"}
    return environment, {"AWS_ACCESS_KEY_ID": s3.login or "", "AWS_SECRET_ACCESS_KEY": s3.password or ""}


def mlflow_environment(conn_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """MLflow's own client variables: the tracking URI and the pipeline account.

    Artifacts always go through the tracking server: the server offers presigned URLs of its
    object store, which name the store as the server reaches it (`minio:9000` on the stack
    network), an address a container on a further worker host cannot resolve.
    """
    tracking = BaseHook.get_connection(conn_id)
    uri = connection_url(tracking, conn_id, "the tracking URI").rstrip("/")
    return (
        {
            "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_TRACKING_USERNAME": tracking.login or "",
            "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
            "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD": "false",
        },
        {"MLFLOW_TRACKING_PASSWORD": tracking.password or ""},
    )


class PipelineOperator(DockerOperator):
    """DockerOperator whose connection-derived settings are looked up when it runs.

    `git_url_variable` names the variable the git connection's repository URL goes
    in; `needs_mlflow` makes a stack without MLflow an error (else its settings are
    passed when the stack has it); `build_hint` says how the image gets built when
    it cannot be pulled.
    """

    def __init__(
        self,
        *,
        build_hint: str,
        git_url_variable: str = "GIT_REPO_URL",
        needs_mlflow: bool = False,
        git_conn_id: str = ConnId.GIT.value,
        s3_conn_id: str = ConnId.S3.value,
        mlflow_conn_id: str | None = MLFLOW_CONN_ID,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("api_version", "auto")
        kwargs.setdefault("network_mode", NETWORK)
        kwargs.setdefault("mount_tmp_dir", False)
        kwargs.setdefault("auto_remove", "success")
        kwargs.setdefault("force_pull", FORCE_PULL)
        kwargs.setdefault("docker_conn_id", REGISTRY_CONN_ID)
        kwargs.setdefault("do_xcom_push", True)
        kwargs.setdefault("xcom_all", False)
        super().__init__(**kwargs)
        self.build_hint = build_hint
        self.git_url_variable = git_url_variable
        self.needs_mlflow = needs_mlflow
        self.git_conn_id = git_conn_id
        self.s3_conn_id = s3_conn_id
        self.mlflow_conn_id = mlflow_conn_id

    def connection_environment(self) -> tuple[dict[str, str], dict[str, str]]:
        """(environment, private environment) for the container, from the connections."""
        parts = [git_environment(self.git_conn_id, self.git_url_variable), s3_environment(self.s3_conn_id)]
        if self.mlflow_conn_id:
            parts.append(mlflow_environment(self.mlflow_conn_id))
        elif self.needs_mlflow:
            raise ValueError(
                f"{self.task_id} needs MLflow, and this stack runs none (mlflow.enabled is false, "
                f"so {Env.MLFLOW_CONN_ID} is not set)"
            )
        environment: dict[str, str] = {}
        private: dict[str, str] = {}
        for public, secret in parts:
            environment.update(public)
            private.update(secret)
        return environment, private

    def execute(self, context: Any) -> Any:
        environment, private = self.connection_environment()
        rendered: dict[str, str] = dict(getattr(self, "environment", None) or {})
        preset: dict[str, str] = dict(getattr(self, "_private_environment", None) or {})
        # Rendered values (params) win over connection-derived ones. DockerOperator keeps
        # private_environment in _private_environment (providers-docker 4.6.1) and merges it
        # into the container's environment without rendering or logging it.
        self.environment = {**environment, **rendered}
        self._private_environment = {**preset, **private}
        self.image = self.pinned_image()
        self.force_pull = False  # pulled just now, by digest
        return super().execute(context)

    def pinned_image(self) -> str:
        """The configured image (``...:latest``) pulled once and named by its digest, so the
        container runs exactly what was pulled, whatever the tag points at afterwards."""
        from docker.errors import APIError

        reference = str(self.image)
        if "@sha256:" in reference:
            return reference
        repository, _, tag = reference.rpartition(":")
        if not repository or "/" in tag:
            repository, tag = reference, "latest"
        if self.force_pull or not self.cli.images(name=reference):
            try:
                for status in self.cli.pull(repository, tag=tag, stream=True, decode=True):
                    if isinstance(status, dict) and status.get("error"):
                        raise RuntimeError(
                            f"the pipeline image {reference} cannot be pulled ({status['error']}). {self.build_hint}"
                        )
            except APIError as error:
                raise RuntimeError(
                    f"the pipeline image {reference} cannot be pulled ({error.explanation}). {self.build_hint}"
                ) from error
        found = self.cli.inspect_image(reference).get("RepoDigests") or []
        digests = [digest for digest in found if digest.startswith(repository + "@")]
        if not digests:
            self.log.info("running %s: a local image with no digest from %s", reference, repository)
            return reference
        self.log.info("running %s (pulled as %s)", digests[0], reference)
        return str(digests[0])


def last_json_line(task: str, result: str | None, keys: set[str]) -> dict[str, Any]:
    """A pipeline container's result: its last output line, a JSON object with `keys`."""
    if not result:
        raise ValueError(f"the {task} task produced no output line")
    try:
        payload = json.loads(result)
    except json.JSONDecodeError as error:
        raise ValueError(f"the last output line of {task} is not JSON: {result[:200]!r}") from error
    if not isinstance(payload, dict) or not keys <= payload.keys():
        raise ValueError(f"the {task} output lacks {sorted(keys)}: {result[:200]!r}")
    return payload


def build_hint(repo: str) -> str:
    return (
        f"Jenkins builds and pushes it on every push to main of the {repo} repo; on a "
        f"stack without Jenkins, build and push it as that repo's Jenkinsfile does: "
        "scripts/push_images.py <stack> in the mlops-stack checkout (README, 'The data loop')"
    )


def preprocess_operator(**kwargs: Any) -> PipelineOperator:
    """The preprocessing container, in every DAG that preprocesses (their `user_defined_macros`
    give `default_image` and `default_dvc_remote_url`)."""
    return PipelineOperator(
        task_id="preprocess",
        build_hint=build_hint("de_datapreprocessing"),
        image="{{ var.value.get('DE_PREPROCESSING_IMAGE', default_image) }}",
        retries=2,
        retry_delay=timedelta(minutes=1),
        environment={
            "CODE_REF": "{{ params.code_ref }}",
            "GIT_BRANCH": "{{ params.git_branch }}",
            "DVC_REMOTE_URL": "{{ var.value.get('DE_PREPROCESSING_DVC_REMOTE_URL', default_dvc_remote_url) }}",
        },
        **kwargs,
    )


@task
def data_version(result: str | None) -> dict[str, str]:
    """``{"tag", "data_md5"}`` from the preprocessing container's last output line."""
    payload = last_json_line("preprocess", result, {"tag", "data_md5"})
    return {"tag": str(payload["tag"]), "data_md5": str(payload["data_md5"])}
