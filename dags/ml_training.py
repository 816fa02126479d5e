"""DAG ``ml_training``: preprocess → train → promote, the model half of the platform's loop.

Params:
- ``data_tag``: a data version ``CV_..._DV_...`` to train on; empty = preprocess first
  (with ``code_ref`` and ``git_branch``, as the ``de_preprocessing`` DAG) and train on
  the tag that makes. A given tag trains on older data without preprocessing.
- ``model_code_ref``: the training code, as the full commit id of the ds_mlmodeling repo
  whose image Jenkins pushed (``<registry>/ds_mlmodeling:<commit>``); empty = ``:latest``.

Tasks ``train`` and ``promote`` run the ds_mlmodeling image (its README says what each
does). ``train`` logs the run with the dataset input of the data version (same digest as
the data run) and registers a model version; ``promote`` moves the alias ``champion`` to
it only if it beats the current champion on the same evaluation data, and records the
decision on the version either way. Each returns the container's last output line, parsed.

Configuration: the connections of ``de_preprocessing`` (git, S3) and ``mlflow_default``
(required here), env ``DS_MLMODELING_IMAGE`` (parse time; Airflow Variable of the same
name wins) for the training image.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Param, task

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))
from mlops_contract import Env
from mlops_operators import (
    DEFAULT_DVC_REMOTE_URL,
    DEFAULT_IMAGE,
    PipelineOperator,
    build_hint,
    data_version,
    last_json_line,
    preprocess_operator,
)

DEFAULT_TRAINING_IMAGE = os.environ.get(Env.TRAINING_IMAGE) or "localhost:5000/ds_mlmodeling:latest"
DATA_TAG = re.compile(r"CV_[A-Za-z0-9._-]{1,100}_DV_\d{8}T\d{6}Z(_\d+)?")
COMMIT = re.compile(r"[0-9a-f]{40}")


def training_image(configured: str, model_code_ref: str) -> str:
    """The configured image, or the same repository at the image tag of one commit."""
    if not model_code_ref:
        return configured
    if not COMMIT.fullmatch(model_code_ref):
        raise ValueError(
            f"model_code_ref {model_code_ref!r} is not a full commit id (40 hex digits) of the ds_mlmodeling "
            "repo: Jenkins tags the training image with the commit it built"
        )
    repository = configured.rsplit("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    return f"{repository}:{model_code_ref}"


@task
def check_params(**context: Any) -> dict[str, str]:
    """Every param checked before anything runs: a bad one fails here, naming it."""
    from airflow.sdk import Variable

    params = context["params"]
    data_tag = str(params.get("data_tag") or "").strip()
    if data_tag and not DATA_TAG.fullmatch(data_tag):
        raise ValueError(f"data_tag {data_tag!r} is not a data version tag (CV_<code>_DV_<YYYYMMDDTHHMMSSZ>)")
    configured = Variable.get(Env.TRAINING_IMAGE, default=DEFAULT_TRAINING_IMAGE)
    model_code_ref = str(params.get("model_code_ref") or "").strip()
    training_image(configured, model_code_ref)  # a bad ref fails here, before anything runs
    # The ref, not the image: each training task names the image as its own host does (a worker on
    # a further host pulls from the registry at another address than the main host's).
    return {"data_tag": data_tag, "model_code_ref": model_code_ref}


@task.branch
def preprocess_or_not(checked: dict[str, str]) -> str:
    return "given_data_tag" if checked["data_tag"] else "preprocess"


@task(trigger_rule="none_failed_min_one_success")
def chosen_data_tag(**context: Any) -> str:
    """The given tag, or the one preprocessing just made."""
    checked = context["ti"].xcom_pull(task_ids="check_params")
    if checked["data_tag"]:
        return str(checked["data_tag"])
    version = context["ti"].xcom_pull(task_ids="data_version")
    if not version:
        raise ValueError("preprocessing made no data version")
    return str(version["tag"])


@task
def model_version(result: str | None) -> str:
    payload = last_json_line("train", result, {"model_name", "model_version", "run_id"})
    return str(payload["model_version"])


@task
def promotion(result: str | None) -> dict[str, Any]:
    return dict(last_json_line("promote", result, {"model_name", "model_version", "promoted"}))


def training_operator(task_id: str, command: str, environment: dict[str, str]) -> PipelineOperator:
    return PipelineOperator(
        task_id=task_id,
        build_hint=build_hint("ds_mlmodeling"),
        image=(
            f"{{{{ training_image(var.value.get('{Env.TRAINING_IMAGE.value}', default_training_image),"
            " ti.xcom_pull(task_ids='check_params')['model_code_ref']) }}"
        ),
        command=[command],
        git_url_variable="DATA_REPO_URL",
        needs_mlflow=True,
        retries=1,
        retry_delay=timedelta(seconds=30),
        environment=environment,
    )


with DAG(
    dag_id="ml_training",
    description="Preprocess (or take a data tag), train, register, promote to @champion if better",
    schedule=None,
    catchup=False,
    tags=["mlops", "mlflow"],
    doc_md=__doc__,
    user_defined_macros={
        "default_image": DEFAULT_IMAGE,
        "default_dvc_remote_url": DEFAULT_DVC_REMOTE_URL,
        "default_training_image": DEFAULT_TRAINING_IMAGE,
        "training_image": training_image,
    },
    params={
        "code_ref": Param("", type="string", description="Preprocessing code: branch, tag or commit; empty = head"),
        "git_branch": Param("main", type="string", minLength=1, description="Branch to version the data on"),
        "data_tag": Param("", type="string", description="Train on this data tag; empty = preprocess first"),
        "model_code_ref": Param("", type="string", description="Training image commit (40 hex); empty = latest"),
    },
) as dag:
    checked = check_params()
    branch = preprocess_or_not(checked)
    given = EmptyOperator(task_id="given_data_tag")
    preprocess = preprocess_operator()
    version = data_version(preprocess.output)
    tag = chosen_data_tag()
    branch >> [given, preprocess]
    [given, version] >> tag
    train = training_operator("train", "train", {"DATA_TAG": "{{ ti.xcom_pull(task_ids='chosen_data_tag') }}"})
    tag >> train
    version_number = model_version(train.output)
    promote = training_operator("promote", "promote", {"MODEL_VERSION": "{{ ti.xcom_pull(task_ids='model_version') }}"})
    version_number >> promote
    promotion(promote.output)
