"""The promotion rule and the dataset source string."""

from __future__ import annotations

import json

import pytest

from ds_mlmodeling.lineage import dataset_source
from ds_mlmodeling.promotion import should_promote


@pytest.mark.parametrize(
    ("candidate", "champion", "expected"),
    [
        (0.80, None, True),  # no champion
        (0.81, 0.80, True),  # better
        (0.80, 0.80, False),  # equal: the champion stays
        (0.79, 0.80, False),  # worse
        (0.8 + 1e-12, 0.8, True),  # strictly better, however little
    ],
)
def test_should_promote(candidate: float, champion: float | None, expected: bool) -> None:
    assert should_promote(candidate, champion) is expected


def test_dataset_source_is_sorted_json() -> None:
    source = dataset_source(
        "http://gitbucket:8080/git/root/de_datapreprocessing.git",
        "CV_x_DV_20250101T000000Z",
        "data/processed/features.csv",
        "a" * 32,
    )
    assert source == (
        '{"md5": "' + "a" * 32 + '", "path": "data/processed/features.csv", '
        '"repo": "http://gitbucket:8080/git/root/de_datapreprocessing.git", "tag": "CV_x_DV_20250101T000000Z"}'
    )
    assert json.loads(source)["tag"] == "CV_x_DV_20250101T000000Z"
