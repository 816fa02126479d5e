"""Plan-time hashes of what the program ships."""

from __future__ import annotations

from pathlib import Path

from components.files import content_hash


def test_content_hash_follows_content_and_ignores_caches(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("1")
    before = content_hash(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_text("junk")
    assert content_hash(tmp_path) == before
    (tmp_path / "a.txt").write_text("2")
    assert content_hash(tmp_path) != before
