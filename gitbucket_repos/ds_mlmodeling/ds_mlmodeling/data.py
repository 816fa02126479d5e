"""The data version: the DVC pointer's md5, the file's md5, and the feature table.

DVC 3 records the md5 of a file's bytes as they are (``hash: md5``), and
de_datapreprocessing checks its pointer against a plain md5 of the file: the same check
is made here before anything is trained on the file.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ds_mlmodeling.errors import PipelineError

DATA_PATH = "data/processed/features.csv"
POINTER_PATH = f"{DATA_PATH}.dvc"
ID_COLUMN = "customer_id"
LABEL_COLUMN = "churned"
# The columns de_datapreprocessing writes (features.OUTPUT_COLUMNS); the model uses every
# column but the id and the label, so a new feature column is picked up, a missing one is an error.
EXPECTED_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "age",
    "log_income",
    "monthly_spend",
    "spend_to_income",
    "tenure_days",
    "tickets_per_year",
    "support_tickets",
    "city_berlin",
    "city_cologne",
    "city_hamburg",
    "city_leipzig",
    "city_munich",
    "plan_basic",
    "plan_premium",
    "plan_pro",
    "age_missing",
    "income_missing",
    "monthly_spend_missing",
    "city_missing",
    "signup_date_missing",
    "churned",
)
_MD5 = re.compile(r"[0-9a-f]{32}")


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pointer_md5(pointer: Path) -> str:
    """The md5 a ``.dvc`` pointer records for its single output (DVC 3 ``hash: md5``)."""
    try:
        # BaseLoader: every scalar stays a string (an all-digit md5 must not become an int).
        document: Any = yaml.load(pointer.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PipelineError("data md5", f"cannot read {pointer.name}: {error}") from None
    outs = document.get("outs") if isinstance(document, dict) else None
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
        raise PipelineError("data md5", f"{pointer.name} does not describe exactly one output")
    out = outs[0]
    md5 = str(out.get("md5", ""))
    if not _MD5.fullmatch(md5):
        raise PipelineError("data md5", f"{pointer.name} records no md5 (got {md5!r})")
    if out.get("hash", "md5") != "md5":
        raise PipelineError("data md5", f"{pointer.name} uses hash {out.get('hash')!r}, not DVC 3's plain md5")
    expected_path = pointer.name.removesuffix(".dvc")
    if out.get("path") != expected_path:
        raise PipelineError("data md5", f"{pointer.name} points at {out.get('path')!r}, not {expected_path!r}")
    return md5


def verify_md5(data_file: Path, pointer: Path) -> str:
    """The data's md5, after checking that the file is what the pointer records."""
    recorded = pointer_md5(pointer)
    if not data_file.is_file():
        raise PipelineError("data md5", f"{DATA_PATH} is missing after dvc pull")
    actual = md5_of(data_file)
    if actual != recorded:
        raise PipelineError(
            "data md5", f"{DATA_PATH} hashes to {actual}, but its pointer records {recorded}: not that data version"
        )
    return recorded


def load_features(path: Path) -> pd.DataFrame:
    """The feature table, checked and sorted by customer id (the split does not depend on row order)."""
    try:
        frame = pd.read_csv(path, dtype={ID_COLUMN: str}, keep_default_na=True)
    except (OSError, ValueError) as error:
        raise PipelineError("data", f"cannot read {path.name} as CSV: {error}") from None
    return check_features(frame)


def check_features(frame: pd.DataFrame) -> pd.DataFrame:
    problems: list[str] = []
    missing = [c for c in EXPECTED_COLUMNS if c not in frame.columns]
    if missing:
        problems.append(f"missing columns {missing}")
    if not problems:
        features = feature_columns(frame)
        not_numeric = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
        if not_numeric:
            problems.append(f"non-numeric feature columns {not_numeric}")
        empty = [c for c in frame.columns if frame[c].isna().any()]
        if empty:
            problems.append(f"missing values in {empty}")
        if frame[ID_COLUMN].duplicated().any():
            problems.append(f"duplicate {ID_COLUMN} values")
        labels = set(frame[LABEL_COLUMN].dropna().unique().tolist())
        if not labels <= {0, 1}:
            problems.append(f"{LABEL_COLUMN} must be 0 or 1, found {sorted(map(str, labels))}")
        else:
            counts = frame[LABEL_COLUMN].value_counts()
            if len(counts) < 2 or int(counts.min()) < 5:
                problems.append(f"{LABEL_COLUMN} needs at least 5 rows of each class, found {counts.to_dict()}")
    if problems:
        raise PipelineError("data", "the feature table is not usable: " + "; ".join(problems))
    frame = frame.sort_values(ID_COLUMN, kind="mergesort").reset_index(drop=True)
    frame[LABEL_COLUMN] = frame[LABEL_COLUMN].astype("int64")
    return frame


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Every column but the id and the label, in the file's order."""
    return [c for c in frame.columns if c not in (ID_COLUMN, LABEL_COLUMN)]
