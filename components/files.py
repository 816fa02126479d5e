"""Hashes of the directories the program ships (seeded repos, image contexts), at plan time."""

from __future__ import annotations

import hashlib
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Where the program builds derived images from, relative to the project (the same on every machine).
JENKINS_IMAGE_CONTEXT = "images/jenkins"


def content_hash(source: Path) -> str:
    """Hash of a directory's files (paths and bytes): what a seed commit or an image build would contain."""
    digest = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file() and not _ignored(p.relative_to(source))):
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _ignored(relative: Path) -> bool:
    return any(part in ("__pycache__", ".pytest_cache", ".git") for part in relative.parts)
