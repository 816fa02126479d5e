"""md5 check of a data version and the feature table's checks."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from conftest import write_features
from ds_mlmodeling.data import (
    EXPECTED_COLUMNS,
    feature_columns,
    load_features,
    md5_of,
    pointer_md5,
    verify_md5,
)
from ds_mlmodeling.errors import PipelineError

POINTER = """outs:
- md5: {md5}
  size: 123
  hash: md5
  path: features.csv
"""


def write_version(tmp_path: Path, content: bytes, md5: str | None = None) -> tuple[Path, Path]:
    data = tmp_path / "features.csv"
    data.write_bytes(content)
    pointer = tmp_path / "features.csv.dvc"
    pointer.write_text(POINTER.format(md5=md5 or hashlib.md5(content).hexdigest()))
    return data, pointer


def test_md5_of_is_the_plain_md5_of_the_bytes(tmp_path: Path) -> None:
    content = b"a,b\r\n1,2\n" * 100_000  # line ends as they are: DVC 3 does not normalise them
    data, pointer = write_version(tmp_path, content)
    assert md5_of(data) == hashlib.md5(content).hexdigest()
    assert verify_md5(data, pointer) == hashlib.md5(content).hexdigest()


def test_md5_mismatch_is_refused(tmp_path: Path) -> None:
    data, pointer = write_version(tmp_path, b"x\n", md5="0" * 32)
    with pytest.raises(PipelineError) as error:
        verify_md5(data, pointer)
    assert error.value.step == "data md5"
    assert "0" * 32 in error.value.message and hashlib.md5(b"x\n").hexdigest() in error.value.message


def test_missing_file_is_refused(tmp_path: Path) -> None:
    data, pointer = write_version(tmp_path, b"x\n")
    data.unlink()
    with pytest.raises(PipelineError, match="missing"):
        verify_md5(data, pointer)


@pytest.mark.parametrize(
    "text",
    [
        "outs: []\n",
        "not: a pointer\n",
        "outs:\n- md5: abc\n  path: features.csv\n",
        "outs:\n- md5: " + "a" * 32 + "\n  path: other.csv\n",
        "outs:\n- md5: " + "a" * 32 + "\n  hash: md5-dos2unix\n  path: features.csv\n",
        "outs:\n- md5: " + "a" * 32 + "\n  path: features.csv\n- md5: " + "b" * 32 + "\n  path: features.csv\n",
        ": : :\n",
    ],
)
def test_odd_pointers_are_refused(tmp_path: Path, text: str) -> None:
    pointer = tmp_path / "features.csv.dvc"
    pointer.write_text(text)
    with pytest.raises(PipelineError) as error:
        pointer_md5(pointer)
    assert error.value.step == "data md5"


def test_load_features_sorts_and_keeps_id_out_of_features(
    tmp_path: Path, make_features: Callable[..., pd.DataFrame]
) -> None:
    frame = make_features(rows=120)
    path = write_features(frame.sample(frac=1.0, random_state=3), tmp_path / "f.csv")
    loaded = load_features(path)
    assert list(loaded.columns) == list(EXPECTED_COLUMNS)
    assert loaded["customer_id"].is_monotonic_increasing
    assert "customer_id" not in feature_columns(loaded) and "churned" not in feature_columns(loaded)
    assert len(feature_columns(loaded)) == len(EXPECTED_COLUMNS) - 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["age"]), "missing columns"),
        (lambda f: f.assign(churned=2), "must be 0 or 1"),
        (lambda f: f.assign(churned=0), "each class"),
        (lambda f: f.assign(age="x"), "non-numeric"),
        (lambda f: f.assign(customer_id="C1"), "duplicate"),
        (lambda f: f.assign(age=[None] + [0.0] * (len(f) - 1)), "missing values"),
    ],
)
def test_unusable_tables_are_refused(
    tmp_path: Path,
    make_features: Callable[..., pd.DataFrame],
    change: Callable[[pd.DataFrame], pd.DataFrame],
    message: str,
) -> None:
    path = write_features(change(make_features(rows=60)), tmp_path / "f.csv")
    with pytest.raises(PipelineError, match=message) as error:
        load_features(path)
    assert error.value.step == "data"
