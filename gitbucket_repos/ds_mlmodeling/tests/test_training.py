"""Training is deterministic, stratified, and never uses the id as a feature."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ds_mlmodeling.data import check_features
from ds_mlmodeling.training import SEED, TEST_SIZE, roc_auc, split_data, train, training_params


def test_same_data_same_metrics(make_features: Callable[..., pd.DataFrame]) -> None:
    frame = check_features(make_features(rows=500))
    first, second = train(frame), train(frame.copy())
    assert first.metrics == second.metrics
    assert list(first.metrics) == ["roc_auc", "accuracy", "f1", "precision", "recall"]
    assert 0.75 < first.metrics["roc_auc"] <= 1.0  # the synthetic label is learnable


def test_row_order_does_not_matter(make_features: Callable[..., pd.DataFrame]) -> None:
    frame = make_features(rows=300)
    shuffled = frame.sample(frac=1.0, random_state=1)
    assert train(check_features(frame)).metrics == train(check_features(shuffled)).metrics


def test_split_is_stratified_80_20_without_id(make_features: Callable[..., pd.DataFrame]) -> None:
    frame = check_features(make_features(rows=500))
    split = split_data(frame)
    assert len(split.X_eval) == round(len(frame) * TEST_SIZE)
    assert "customer_id" not in split.features and "churned" not in split.features
    assert abs(split.y_train.mean() - split.y_eval.mean()) < 0.02
    again = split_data(frame)
    assert list(again.X_eval.index) == list(split.X_eval.index)


def test_model_is_judged_on_its_own_columns(make_features: Callable[..., pd.DataFrame]) -> None:
    frame = check_features(make_features(rows=300))
    trained = train(frame)
    split = split_data(frame.assign(extra_feature=1.0))  # a newer data version with one more column
    assert roc_auc(trained.model, split) == trained.metrics["roc_auc"]


def test_params_name_seed_and_split(make_features: Callable[..., pd.DataFrame]) -> None:
    params = training_params(split_data(check_features(make_features(rows=100))))
    assert params["seed"] == str(SEED) and params["split.test_size"] == str(TEST_SIZE)
    assert params["model.max_iter"] == "1000" and params["model.random_state"] == "42"
    assert "customer_id" not in params["features"].split(",")
