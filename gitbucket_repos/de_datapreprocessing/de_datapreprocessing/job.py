"""The preprocessing job: synthetic raw data -> cleaning -> features -> CSV.

    python -m de_datapreprocessing.job [--seed N] [--rows N] [--output PATH]

Standard library only, so any checked-out version of this code runs in the
pipeline image. Same code + same seed + same row count -> byte-identical file.
Defaults come from DATA_SEED / DATA_ROWS when set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from de_datapreprocessing.cleaning import clean
from de_datapreprocessing.features import build_features, render_csv, write_csv
from de_datapreprocessing.raw import DEFAULT_ROWS, DEFAULT_SEED, generate_raw

DEFAULT_OUTPUT = Path("data/processed/features.csv")


@dataclass(frozen=True)
class JobResult:
    output: Path
    raw_rows: int
    output_rows: int
    md5: str


def produce(seed: int = DEFAULT_SEED, rows: int = DEFAULT_ROWS) -> bytes:
    """The output file's bytes, computed in memory."""
    return render_csv(build_features(clean(generate_raw(seed, rows))))


def run(output: Path = DEFAULT_OUTPUT, seed: int = DEFAULT_SEED, rows: int = DEFAULT_ROWS) -> JobResult:
    raw = generate_raw(seed, rows)
    table = build_features(clean(raw))
    data = write_csv(table, output)
    return JobResult(output, len(raw), len(table), hashlib.md5(data, usedforsecurity=False).hexdigest())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m de_datapreprocessing.job", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=int(os.environ.get("DATA_SEED") or DEFAULT_SEED))
    parser.add_argument("--rows", type=int, default=int(os.environ.get("DATA_ROWS") or DEFAULT_ROWS))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    result = run(args.output, args.seed, args.rows)
    summary = {
        "output": str(result.output),
        "raw_rows": result.raw_rows,
        "rows": result.output_rows,
        "md5": result.md5,
        "seed": args.seed,
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
