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

Why the secrets are read in ``execute`` and not with ``{{ conn.minio_default.password }}``:
DockerOperator (providers-docker 4.6.1) does not template ``private_environment`` (its
template_fields are image, command, environment, env_file, container_name, mounts,
docker_conn_id), so Jinja there would reach the container as literal text; putting the
secrets in the templated ``environment`` instead would store them in the rendered
template fields of every task instance. ``PreprocessingOperator.execute`` looks the
connections up through the Task SDK (``BaseHook.get_connection``) when the task runs
(never at parse time, so the DAG imports without them) and hands the secrets to the
container as private environment, which DockerOperator neither renders nor logs; the SDK
also registers connection passwords with the log secrets masker.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

# Airflow is not installed in the project's own virtualenv (only in the Airflow image).
from airflow.providers.docker.operators.docker import DockerOperator
from airflow.sdk import DAG, BaseHook, Param, task

# The names the platform sets (components/airflow.py imports the same module). Its
# folder is put on the path here: not every parser of a bundle adds the bundle root.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))
from mlops_contract import ConnId, Env

GIT_CONN_ID = ConnId.GIT.value
S3_CONN_ID = ConnId.S3.value
DEFAULT_IMAGE = os.environ.get(Env.IMAGE) or "localhost:5000/de_datapreprocessing:latest"
DEFAULT_DVC_REMOTE_URL = os.environ.get(Env.DVC_REMOTE_URL) or "s3://de-datapreprocessing/dvcstore"
NETWORK = os.environ.get(Env.NETWORK) or None
REGISTRY_CONN_ID = os.environ.get(Env.REGISTRY_CONN_ID) or None
FORCE_PULL = (os.environ.get(Env.FORCE_PULL) or "true").strip().lower() in ("1", "true", "yes")


def connection_environment(git_conn_id: str, s3_conn_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """(environment, private environment) for the container, from the two connections."""
    git = BaseHook.get_connection(git_conn_id)
    s3 = BaseHook.get_connection(s3_conn_id)
    repo_url = (git.host or "").strip()
    if not repo_url:
        raise ValueError(f"connection {git_conn_id!r} has no host (the repository URL)")
    if "://" not in repo_url:
        repo_url = f"{git.schema or 'http'}://{repo_url}"
    extra = s3.extra_dejson or {}
    endpoint = extra.get("endpoint_url") or extra.get("service_config", {}).get("s3", {}).get("endpoint_url") or ""
    if not endpoint:
        raise ValueError(f"connection {s3_conn_id!r} has no endpoint_url in its extra")
    environment = {
        "GIT_REPO_URL": repo_url,
        "GIT_USERNAME": git.login or "",
        "DVC_S3_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": extra.get("region_name") or "us-east-1",
    }
    private = {
        "GIT_PASSWORD": git.password or "",
        "AWS_ACCESS_KEY_ID": s3.login or "",
        "AWS_SECRET_ACCESS_KEY": s3.password or "",
    }
    return environment, private


class PreprocessingOperator(DockerOperator):
    """DockerOperator whose connection-derived settings are looked up when it runs."""

    def __init__(self, *, git_conn_id: str = GIT_CONN_ID, s3_conn_id: str = S3_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.git_conn_id = git_conn_id
        self.s3_conn_id = s3_conn_id

    def execute(self, context: Any) -> Any:
        environment, private = connection_environment(self.git_conn_id, self.s3_conn_id)
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
        how = (
            "Jenkins builds and pushes it on every push to main of the de_datapreprocessing repo; on a "
            "stack without Jenkins, build and push it as that repo's Jenkinsfile does: "
            "scripts/push_images.py <stack> in the mlops-stack checkout (README, 'The data loop')"
        )
        if self.force_pull or not self.cli.images(name=reference):
            try:
                for status in self.cli.pull(repository, tag=tag, stream=True, decode=True):
                    if isinstance(status, dict) and status.get("error"):
                        raise RuntimeError(
                            f"the pipeline image {reference} cannot be pulled ({status['error']}). {how}"
                        )
            except APIError as error:
                raise RuntimeError(
                    f"the pipeline image {reference} cannot be pulled ({error.explanation}). {how}"
                ) from error
        found = self.cli.inspect_image(reference).get("RepoDigests") or []
        digests = [digest for digest in found if digest.startswith(repository + "@")]
        if not digests:
            self.log.info("running %s: a local image with no digest from %s", reference, repository)
            return reference
        self.log.info("running %s (pulled as %s)", digests[0], reference)
        return str(digests[0])


@task
def data_version(result: str | None) -> dict[str, str]:
    """``{"tag", "data_md5"}`` from the pipeline's last output line."""
    if not result:
        raise ValueError("the preprocess task produced no output line")
    try:
        payload = json.loads(result)
    except json.JSONDecodeError as error:
        raise ValueError(f"the last output line of preprocess is not JSON: {result[:200]!r}") from error
    if not isinstance(payload, dict) or not {"tag", "data_md5"} <= payload.keys():
        raise ValueError(f"the preprocess output lacks tag/data_md5: {result[:200]!r}")
    return {"tag": str(payload["tag"]), "data_md5": str(payload["data_md5"])}


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
    preprocess = PreprocessingOperator(
        task_id="preprocess",
        image="{{ var.value.get('DE_PREPROCESSING_IMAGE', default_image) }}",
        api_version="auto",
        network_mode=NETWORK,
        mount_tmp_dir=False,
        auto_remove="success",
        force_pull=FORCE_PULL,
        docker_conn_id=REGISTRY_CONN_ID,
        do_xcom_push=True,
        xcom_all=False,
        retries=2,
        retry_delay=timedelta(minutes=1),
        environment={
            "CODE_REF": "{{ params.code_ref }}",
            "GIT_BRANCH": "{{ params.git_branch }}",
            "DVC_REMOTE_URL": "{{ var.value.get('DE_PREPROCESSING_DVC_REMOTE_URL', default_dvc_remote_url) }}",
        },
    )
    data_version(preprocess.output)
