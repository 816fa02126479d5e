"""scripts/preview_pr.sh (what the GitHub workflow and Jenkins' preview job run): bad input is
refused before anything runs, and the scripts that handle secrets pass shellcheck."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.containers import unavailable

PROJECT_DIR = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT_DIR / "scripts" / "preview_pr.sh"


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["gitlab", "o/r", "3", "dev"], "unknown forge 'gitlab'"),
        (["gitbucket", "o/r", "0", "dev"], "invalid pull request number '0'"),
        (["gitbucket", "o/r", "3;reboot", "dev"], "invalid pull request number '3;reboot'"),
        (["github", "o/r", "3", "dev Prod"], "invalid stack name 'Prod'"),
        (["github", "o/r", "3", "dev $(id)"], "invalid stack name '$(id)'"),
        (["github", "o/r", "3", " "], "no stack to preview"),
        (["github", "o/r", "3"], "usage:"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(tmp_path: Path, args: list[str], problem: str) -> None:
    # A PATH with bash only: had the script gone on, it would fail on a missing tool instead.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    bash = shutil.which("bash")
    assert bash is not None
    os.symlink(bash, bin_dir / "bash")
    done = subprocess.run(
        [bash, str(SCRIPT), *args],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1 and problem in done.stderr, done.stderr


@pytest.mark.parametrize("script", ["preview_pr.sh", "jenkins-agent.sh"])
def test_the_scripts_that_handle_secrets_pass_shellcheck(script: str) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        unavailable("no shellcheck on PATH")
    assert shellcheck is not None
    done = subprocess.run(
        [shellcheck, "-x", f"scripts/{script}"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout
