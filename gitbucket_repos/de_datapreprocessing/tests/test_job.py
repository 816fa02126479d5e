"""The job end to end: byte-identical output for the same code and seed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from de_datapreprocessing import job

# The fingerprint of the default data version (seed 42, 3000 rows). A change
# here means the code now produces different data: update it on purpose.
DEFAULT_MD5 = "a19b587d0663da8d24ff70fac201a2c5"


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first = job.run(tmp_path / "a" / "features.csv", seed=11, rows=600)
    second = job.run(tmp_path / "b" / "features.csv", seed=11, rows=600)
    assert (tmp_path / "a" / "features.csv").read_bytes() == (tmp_path / "b" / "features.csv").read_bytes()
    assert first.md5 == second.md5
    assert first.md5 == hashlib.md5((tmp_path / "a" / "features.csv").read_bytes()).hexdigest()


def test_other_seed_other_data() -> None:
    assert job.produce(seed=11, rows=600) != job.produce(seed=12, rows=600)


def test_default_data_version_fingerprint() -> None:
    assert hashlib.md5(job.produce()).hexdigest() == DEFAULT_MD5


def test_cli_writes_file_and_prints_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_SEED", "11")
    monkeypatch.setenv("DATA_ROWS", "600")
    out = tmp_path / "data" / "processed" / "features.csv"
    assert job.main(["--output", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["seed"] == 11 and summary["raw_rows"] == 618
    assert summary["md5"] == hashlib.md5(out.read_bytes()).hexdigest()
    assert out.read_bytes() == job.produce(seed=11, rows=600)
