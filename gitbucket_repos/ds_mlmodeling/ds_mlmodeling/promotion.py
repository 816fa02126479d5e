"""Promotion: the candidate version becomes the ``champion`` alias only if it is strictly better.

Candidate and champion are evaluated on the same rows: the evaluation split of the data
version the candidate was trained on (its ``mlops.data_tag``), fetched and verified again.
Only aliases are used (stages are deprecated). The outcome is always recorded on the
candidate version (``mlops.promotion``, ``mlops.promotion_detail``, ...).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ds_mlmodeling import training
from ds_mlmodeling.errors import PipelineError
from ds_mlmodeling.lineage import (
    TAG_DATA_MD5,
    TAG_DATA_TAG,
    TAG_PROMOTION,
    TAG_PROMOTION_DATA_TAG,
    TAG_PROMOTION_DETAIL,
    TAG_PROMOTION_ROC_AUC,
    DataVersion,
)
from ds_mlmodeling.registry import load_model_version

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

CHAMPION_ALIAS = "champion"
PROMOTED = "promoted"
NOT_PROMOTED = "not-promoted"

# The data version (verified) and its feature table, for a data tag.
EvalDataLoader = Callable[[str], tuple[DataVersion, pd.DataFrame]]


@dataclass(frozen=True)
class PromotionResult:
    model_name: str
    model_version: str
    promoted: bool
    champion_version: str | None
    candidate_roc_auc: float
    champion_roc_auc: float | None
    eval_data_tag: str
    detail: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def should_promote(candidate_roc_auc: float, champion_roc_auc: float | None) -> bool:
    """No champion, or strictly better: a tie keeps the champion."""
    return champion_roc_auc is None or candidate_roc_auc > champion_roc_auc


def current_champion(client: MlflowClient, name: str) -> str | None:
    aliases = client.get_registered_model(name).aliases or {}
    champion = aliases.get(CHAMPION_ALIAS)
    return None if champion is None else str(champion)


def promote(
    client: MlflowClient, name: str, version: str, load_eval_data: EvalDataLoader, scratch: Path | None = None
) -> PromotionResult:
    from mlflow.exceptions import MlflowException

    try:
        candidate = client.get_model_version(name, version)
    except MlflowException as error:
        raise PipelineError("model version", f"{name} version {version} cannot be read: {error.message}") from None
    data_tag = (candidate.tags or {}).get(TAG_DATA_TAG)
    if not data_tag:
        raise PipelineError("model version", f"{name} version {version} has no {TAG_DATA_TAG} tag: it cannot be judged")
    data, frame = load_eval_data(data_tag)
    recorded_md5 = (candidate.tags or {}).get(TAG_DATA_MD5)
    if recorded_md5 and recorded_md5 != data.md5:
        raise PipelineError(
            "data md5", f"{name} version {version} was trained on md5 {recorded_md5}, tag {data_tag} now has {data.md5}"
        )
    split = training.split_data(frame)
    try:
        champion = current_champion(client, name)
    except MlflowException as error:
        raise PipelineError("champion", f"cannot read the aliases of {name}: {error.message}") from None

    with tempfile.TemporaryDirectory(prefix="ds-mlmodeling-models-", dir=scratch) as models:
        model = load_model_version(name, version, Path(models) / "candidate", "candidate")
        try:
            candidate_auc = training.roc_auc(model, split)
        except ValueError as error:
            raise PipelineError("candidate", f"cannot evaluate {name} version {version}: {error}") from None
        champion_auc: float | None = None
        if champion is not None and champion != version:
            champion_model = load_model_version(name, champion, Path(models) / "champion", "champion")
            try:
                champion_auc = training.roc_auc(champion_model, split)
            except ValueError as error:
                raise PipelineError(
                    "champion", f"cannot evaluate the champion, version {champion}, on {data_tag}: {error}"
                ) from None

    figures = f"on the evaluation split of data tag {data_tag}"
    new_champion: str | None
    if champion == version:
        promoted, outcome, new_champion, champion_auc = False, PROMOTED, version, candidate_auc
        detail = f"version {version} is already the champion (roc_auc {candidate_auc:.6f} {figures}); nothing moved"
    elif should_promote(candidate_auc, champion_auc):
        promoted, outcome, new_champion = True, PROMOTED, version
        if champion is None:
            detail = f"promoted: roc_auc {candidate_auc:.6f} {figures}; there was no champion"
        else:
            detail = (
                f"promoted: roc_auc {candidate_auc:.6f} > {champion_auc:.6f} of the previous champion, "
                f"version {champion}, {figures}"
            )
    else:
        promoted, outcome, new_champion = False, NOT_PROMOTED, champion
        detail = (
            f"not promoted: roc_auc {candidate_auc:.6f} is not above {champion_auc:.6f} of the champion, "
            f"version {champion}, {figures}; the champion stays"
        )

    try:
        if promoted:
            client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
        for key, value in (
            (TAG_PROMOTION, outcome),
            (TAG_PROMOTION_DETAIL, detail),
            (TAG_PROMOTION_DATA_TAG, data_tag),
            (TAG_PROMOTION_ROC_AUC, repr(candidate_auc)),
        ):
            client.set_model_version_tag(name, version, key, value)
    except MlflowException as error:
        moved = f" (the alias {CHAMPION_ALIAS} was set to version {version})" if promoted else ""
        raise PipelineError(
            "promote", f"cannot record the outcome on {name} version {version}{moved}: {error.message}"
        ) from None

    return PromotionResult(
        model_name=name,
        model_version=version,
        promoted=promoted,
        champion_version=new_champion,
        candidate_roc_auc=candidate_auc,
        champion_roc_auc=champion_auc,
        eval_data_tag=data_tag,
        detail=detail,
    )
