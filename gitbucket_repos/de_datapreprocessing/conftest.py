"""Test setup shared by every test of this repository.

Being at the repository root, this file also puts the root on sys.path
(pytest's default import mode), so ``import de_datapreprocessing`` works
without installing the package, whether pytest runs here or from a parent
project that collects ``tests/``.
"""

from __future__ import annotations

import subprocess

import pytest


def rejected_by_git(names: list[str]) -> list[str]:
    """The names that ``git check-ref-format refs/tags/<name>`` rejects: one shell, one git per name."""
    if not names:
        return []
    script = 'for n in "$@"; do git check-ref-format "refs/tags/$n" || printf "%s\\0" "$n"; done'
    proc = subprocess.run(["sh", "-c", script, "sh", *names], capture_output=True, check=True)
    return [n for n in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if n]


@pytest.fixture
def git_rejects():
    return rejected_by_git
