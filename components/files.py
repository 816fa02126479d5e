"""Hashes of the directories the program ships (seeded repos, image contexts), at plan time."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from mlops_clients.common import seed_files

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Where the program builds derived images from, relative to the project (the same on every machine).
JENKINS_IMAGE_CONTEXT = "images/jenkins"
MLFLOW_IMAGE_CONTEXT = "images/mlflow"
MODEL_API_IMAGE_CONTEXT = "images/model-api"


def content_hash(source: Path) -> str:
    """Hash of the files a seed of `source` pushes (paths, bytes and the executable bit).

    The file list is the seed's own (mlops_clients.common.seed_files: what git tracks,
    or what the .gitignore files keep outside a git work tree), so a changed hash
    means a changed seed and an unchanged one an unchanged seed.
    """
    digest = hashlib.sha256()
    for relative in seed_files(source):
        path = source / relative
        digest.update(os.fsencode(relative) + b"\0" + path.read_bytes() + b"\0")
        if path.stat().st_mode & stat.S_IXUSR:  # git records it (100755); hashed only then: older hashes hold
            digest.update(b"x\0")
    return digest.hexdigest()


def context_hash(context: Path) -> str:
    """Hash of everything `docker build` would send from `context`: every file, tracked or not
    (a build reads the directory, not git), by path, bytes and executable bit."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        relative = path.relative_to(context).as_posix()
        executable = b"x" if path.stat().st_mode & stat.S_IXUSR else b"-"
        digest.update(relative.encode() + b"\0" + executable + path.read_bytes() + b"\0")
    return digest.hexdigest()
