"""Test setup shared by every test of this repository.

Being at the repository root, this file also puts the root on sys.path (pytest's default
import mode), so ``import ds_mlmodeling`` works without installing the package.

``make_features`` writes a synthetic feature table with the columns de_datapreprocessing
produces (the other repository is not imported): z-scored numbers, counts, one-hot
categories, missing-value flags and a churn label that depends on some of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ds_mlmodeling.data import EXPECTED_COLUMNS

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@localhost",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@localhost",
}


def synthetic_features(rows: int = 400, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"customer_id": [f"C{i:06d}" for i in range(1, rows + 1)]})
    for column in ("age", "log_income", "monthly_spend", "spend_to_income", "tenure_days", "tickets_per_year"):
        frame[column] = rng.normal(size=rows).round(6)
    frame["support_tickets"] = rng.poisson(1.5, size=rows)
    for group in (
        ("city_berlin", "city_cologne", "city_hamburg", "city_leipzig", "city_munich"),
        ("plan_basic", "plan_premium", "plan_pro"),
    ):
        chosen = rng.integers(0, len(group), size=rows)
        for index, column in enumerate(group):
            frame[column] = (chosen == index).astype(int)
    for column in ("age_missing", "income_missing", "monthly_spend_missing", "city_missing", "signup_date_missing"):
        frame[column] = (rng.random(rows) < 0.05).astype(int)
    logit = (
        -0.8
        - 1.2 * frame["tenure_days"]
        + 0.9 * frame["tickets_per_year"]
        + 0.6 * frame["spend_to_income"]
        + 0.7 * frame["plan_basic"]
        + rng.normal(scale=0.8, size=rows)
    )
    frame["churned"] = (logit > 0).astype(int)
    return frame[list(EXPECTED_COLUMNS)]


def write_features(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.6f", lineterminator="\n")
    return path


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own directory: MLflow's local stores put artifacts in ./mlruns."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_features() -> Callable[..., pd.DataFrame]:
    return synthetic_features


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        args, cwd=cwd, env={**os.environ, **GIT_IDENTITY, **(env or {})}, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"{args} failed: {proc.stdout}\n{proc.stderr}")
    return proc.stdout.strip()


def dvc(*args: str, cwd: Path) -> str:
    return run([sys.executable, "-I", "-m", "dvc", *args], cwd)


class DataRepo:
    """A data repository like de_datapreprocessing's: a bare git repository (file://) whose
    tags point at commits of a features.csv.dvc pointer, with a local DVC remote."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.work = root / "work"
        self.bare = root / "data.git"
        self.remote = root / "dvcstore"
        self.url = f"file://{self.bare}"
        self.work.mkdir(parents=True)
        run(["git", "init", "--quiet", "-b", "main"], self.work)
        dvc("init", "--quiet", cwd=self.work)
        dvc("config", "core.analytics", "false", cwd=self.work)
        dvc("remote", "add", "--default", "storage", str(self.remote), cwd=self.work)
        run(["git", "add", "-A"], self.work)
        run(["git", "commit", "--quiet", "-m", "code"], self.work)
        run(["git", "init", "--quiet", "--bare", str(self.bare)], root)
        run(["git", "remote", "add", "origin", self.url], self.work)

    def add_version(self, frame: pd.DataFrame, tag: str, annotated: bool = True, push_data: bool = True) -> str:
        """Commit and tag a data version; its md5."""
        write_features(frame, self.work / "data" / "processed" / "features.csv")
        dvc("add", "--quiet", "data/processed/features.csv", cwd=self.work)
        if push_data:
            dvc("push", "--quiet", cwd=self.work)
        run(["git", "add", "-A"], self.work)
        run(["git", "commit", "--quiet", "--allow-empty", "-m", f"data {tag}"], self.work)
        run(["git", "tag", *(["-a", "-m", tag] if annotated else []), tag], self.work)
        run(["git", "push", "--quiet", "origin", "main", f"refs/tags/{tag}"], self.work)
        text = (self.work / "data" / "processed" / "features.csv.dvc").read_text()
        return text.split("md5: ", 1)[1].split()[0]


@pytest.fixture(scope="session")
def new_data_repo(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], DataRepo]:
    """Makes a new, empty data repository (a test module keeps its own)."""
    return lambda: DataRepo(tmp_path_factory.mktemp("data-repo"))
