"""How a model is tied to its data version in MLflow.

The data job (de_datapreprocessing, experiment ``de_datapreprocessing``) logs one run per
data version with the tags ``mlops.data_tag`` / ``mlops.data_md5`` and the dataset input
``churn_features`` (digest = the md5, source = ``dataset_source(...)``, context
``produced``). The training run names that run (``mlops.data_run_id``), carries the same
tags, and logs the *same* dataset (name, digest, source, source type) with context
``training``; the registered model version carries the tags too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ds_mlmodeling.data import DATA_PATH
from ds_mlmodeling.datatags import is_data_tag
from ds_mlmodeling.errors import PipelineError

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

DATASET_NAME = "churn_features"
DATASET_SOURCE_TYPE = "dvc"
CONTEXT_TAG = "mlflow.data.context"
CONTEXT_TRAINING = "training"

TAG_DATA_TAG = "mlops.data_tag"
TAG_DATA_MD5 = "mlops.data_md5"
TAG_DATA_RUN_ID = "mlops.data_run_id"
TAG_CODE_COMMIT = "mlops.code_commit"
TAG_PROMOTION = "mlops.promotion"
TAG_PROMOTION_DETAIL = "mlops.promotion_detail"
TAG_PROMOTION_DATA_TAG = "mlops.promotion_eval_data_tag"
TAG_PROMOTION_ROC_AUC = "mlops.promotion_roc_auc"


def dataset_source(repo: str, tag: str, path: str, md5: str) -> str:
    """The dataset's source, identical on the data run and on every training run of it."""
    return json.dumps({"md5": md5, "path": path, "repo": repo, "tag": tag}, sort_keys=True)


@dataclass(frozen=True)
class DataVersion:
    """A data version on disk: its tag, its verified md5 and where it came from (no credentials)."""

    tag: str
    md5: str
    repo_url: str
    path: str = DATA_PATH


@dataclass(frozen=True)
class DataRun:
    """The data job's MLflow run of a data version."""

    run_id: str
    experiment: str
    data_md5: str
    dataset_source: str | None  # the source its churn_features input records, if any


def _dataset_source_of(run: Run, md5: str) -> str | None:
    for dataset_input in run.inputs.dataset_inputs if run.inputs else []:
        dataset = dataset_input.dataset
        if dataset.name == DATASET_NAME and dataset.digest == md5:
            return str(dataset.source)
    return None


def find_data_run(client: MlflowClient, experiment: str, data: DataVersion) -> DataRun:
    """The data job's run of ``data.tag`` (a finished one first), checked against the verified md5."""
    if not is_data_tag(data.tag):  # also what keeps the filter string below well-formed
        raise PipelineError("lineage", f"{data.tag!r} is not a data tag")
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise PipelineError(
            "lineage", f"no MLflow run of {experiment} records data tag {data.tag}: the experiment does not exist"
        )
    runs = client.search_runs(
        [found.experiment_id],
        filter_string=f"tags.\"{TAG_DATA_TAG}\" = '{data.tag}'",
        max_results=50,
        order_by=["attributes.start_time DESC"],
    )
    usable = [r for r in runs if r.info.status in ("FINISHED", "RUNNING")]
    usable.sort(key=lambda r: r.info.status != "FINISHED")  # stable: newest finished first
    if not usable:
        failed = f" (only {len(runs)} failed run(s))" if runs else ""
        raise PipelineError(
            "lineage", f"no MLflow run of {experiment} records data tag {data.tag}{failed}: nothing was trained"
        )
    run = usable[0]
    recorded = run.data.tags.get(TAG_DATA_MD5, "")
    if recorded != data.md5:
        raise PipelineError(
            "lineage",
            f"MLflow run {run.info.run_id} of {experiment} records md5 {recorded or 'none'} for {data.tag}, "
            f"the data at that tag is {data.md5}: nothing was trained",
        )
    return DataRun(run.info.run_id, experiment, recorded, _dataset_source_of(run, data.md5))
