"""Deterministic training: a stratified 80/20 split (seed 42) and a scaled logistic regression.

Same feature table -> same split -> same model -> identical metrics. The split depends on
the data only (rows are sorted by customer id first), so ``promote`` evaluates every model
on exactly the evaluation rows the candidate was evaluated on when it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from ds_mlmodeling.data import LABEL_COLUMN, feature_columns

SEED = 42
TEST_SIZE = 0.2
HYPERPARAMS: dict[str, Any] = {"C": 1.0, "max_iter": 1000, "solver": "lbfgs", "random_state": SEED}
PRIMARY_METRIC = "roc_auc"


class Classifier(Protocol):
    def predict_proba(self, X: Any) -> Any: ...


@dataclass(frozen=True)
class Split:
    features: list[str]
    X_train: pd.DataFrame
    X_eval: pd.DataFrame
    y_train: pd.Series
    y_eval: pd.Series


@dataclass(frozen=True)
class Trained:
    model: Pipeline
    split: Split
    metrics: dict[str, float]


def split_data(frame: pd.DataFrame) -> Split:
    """Stratified on the label, ``TEST_SIZE`` held out for evaluation, ``SEED`` fixed."""
    features = feature_columns(frame)
    # float64 throughout: 0/1 flags and counts too, so the model's signature has no integer
    # column (which could not take a missing value at serving time).
    X_train, X_eval, y_train, y_eval = train_test_split(
        frame[features].astype("float64"),
        frame[LABEL_COLUMN],
        test_size=TEST_SIZE,
        stratify=frame[LABEL_COLUMN],
        random_state=SEED,
    )
    return Split(features, X_train, X_eval, y_train, y_eval)


def build_pipeline() -> Pipeline:
    # Most features are z-scored upstream, but counts and 0/1 flags are not: scaling here
    # keeps the regularisation even across columns and lbfgs well conditioned.
    return Pipeline([("scale", StandardScaler()), ("classifier", LogisticRegression(**HYPERPARAMS))])


def positive_scores(model: Classifier, X: pd.DataFrame) -> np.ndarray:
    """P(churned = 1); a fitted model sees the columns it was fitted on, by name."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        missing = [str(c) for c in names if c not in X.columns]
        if missing:
            raise ValueError(f"the data lacks the model's feature columns {missing}")
        X = X[list(names)]
    return np.asarray(model.predict_proba(X))[:, 1]


def evaluate(model: Classifier, X: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    scores = positive_scores(model, X)
    predicted = (scores >= 0.5).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y, scores)),
        "accuracy": float(accuracy_score(y, predicted)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
    }


def roc_auc(model: Classifier, split: Split) -> float:
    return float(roc_auc_score(split.y_eval, positive_scores(model, split.X_eval)))


def train(frame: pd.DataFrame) -> Trained:
    split = split_data(frame)
    model = build_pipeline().fit(split.X_train, split.y_train)
    return Trained(model, split, evaluate(model, split.X_eval, split.y_eval))


def training_params(split: Split) -> dict[str, str]:
    """What the run records as parameters: hyper-parameters, seed and split."""
    params = {f"model.{k}": str(v) for k, v in HYPERPARAMS.items()}
    params.update(
        {
            "model.type": "StandardScaler+LogisticRegression",
            "seed": str(SEED),
            "split.test_size": str(TEST_SIZE),
            "split.stratify": LABEL_COLUMN,
            "split.random_state": str(SEED),
            "n_train": str(len(split.X_train)),
            "n_eval": str(len(split.X_eval)),
            "n_features": str(len(split.features)),
            "features": ",".join(split.features),
        }
    )
    return params
