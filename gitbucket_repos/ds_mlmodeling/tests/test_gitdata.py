"""The data repository: tags, shallow clone at a tag, dvc pull, md5 check (real git and dvc,
a file:// repository and a local DVC remote: no server)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import DataRepo, run, synthetic_features
from ds_mlmodeling.data import load_features
from ds_mlmodeling.entrypoint import resolve_tag
from ds_mlmodeling.errors import PipelineError
from ds_mlmodeling.gitdata import Runner, fetch_data, remote_tags

OLD, NEW, NEW_2 = "CV_old_DV_20250101T000000Z", "CV_new_DV_20250102T000000Z", "CV_new_DV_20250102T000000Z_2"


@pytest.fixture(scope="module")
def repo(new_data_repo: Callable[[], DataRepo]) -> DataRepo:
    repo = new_data_repo()
    repo.md5s = {  # type: ignore[attr-defined]
        OLD: repo.add_version(synthetic_features(rows=80, seed=1), OLD, annotated=False),
        NEW: repo.add_version(synthetic_features(rows=90, seed=2), NEW),
        NEW_2: repo.add_version(synthetic_features(rows=100, seed=3), NEW_2),
    }
    run(["git", "tag", "v1.0"], repo.work)
    run(["git", "push", "--quiet", "origin", "v1.0"], repo.work)
    return repo


def runner(repo_url: str, tmp_path: Path) -> Runner:
    private = tmp_path / "private"
    private.mkdir()
    return Runner(repo_url, "", "", dict(os.environ), private)


def test_remote_tags_are_peeled_to_commits(repo: DataRepo, tmp_path: Path) -> None:
    tags = remote_tags(runner(repo.url, tmp_path))
    assert set(tags) == {OLD, NEW, NEW_2, "v1.0"}
    assert tags[NEW] == run(["git", "rev-parse", f"{NEW}^{{commit}}"], repo.work)
    assert tags[OLD] == run(["git", "rev-parse", OLD], repo.work)


def test_resolve_newest_or_named_tag(repo: DataRepo, tmp_path: Path) -> None:
    git = runner(repo.url, tmp_path)
    assert resolve_tag(git, "")[0] == NEW_2
    assert resolve_tag(git, OLD)[0] == OLD
    with pytest.raises(PipelineError) as error:
        resolve_tag(git, "CV_nope_DV_20250101T000000Z")
    assert (error.value.step, error.value.message) == (
        "data tag",
        f"'CV_nope_DV_20250101T000000Z' does not exist in {repo.url}",
    )


def test_no_data_tag_at_all(new_data_repo: Callable[[], DataRepo], tmp_path: Path) -> None:
    empty = new_data_repo()
    run(["git", "push", "--quiet", "origin", "main"], empty.work)
    with pytest.raises(PipelineError, match="has no data tag"):
        resolve_tag(runner(empty.url, tmp_path), "")


def test_fetch_restores_the_tagged_version(repo: DataRepo, tmp_path: Path) -> None:
    git = runner(repo.url, tmp_path)
    tag, commit = resolve_tag(git, NEW)
    (tmp_path / "work").mkdir()
    fetched = fetch_data(git, tag, commit, tmp_path / "work", "")
    assert fetched.md5 == repo.md5s[NEW]  # type: ignore[attr-defined]
    assert len(load_features(fetched.data_file)) == 90
    assert run(["git", "rev-parse", "--is-shallow-repository"], tmp_path / "work" / "repo") == "true"


def test_corrupt_data_is_refused(new_data_repo: Callable[[], DataRepo], tmp_path: Path) -> None:
    bad = new_data_repo()
    md5 = bad.add_version(synthetic_features(rows=50, seed=4), OLD)
    stored = bad.remote / "files" / "md5" / md5[:2] / md5[2:]
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes().replace(b"C000001", b"C999999"))
    git = runner(bad.url, tmp_path)
    (tmp_path / "work").mkdir()
    with pytest.raises(PipelineError) as error:
        fetch_data(git, *resolve_tag(git, OLD), tmp_path / "work", "")
    # dvc itself refuses an object whose hash is wrong; verify_md5 would be the second line
    assert error.value.step in ("data md5", "dvc pull"), error.value


def test_data_missing_from_the_remote(new_data_repo: Callable[[], DataRepo], tmp_path: Path) -> None:
    unpushed = new_data_repo()
    unpushed.add_version(synthetic_features(rows=50, seed=5), OLD, push_data=False)
    git = runner(unpushed.url, tmp_path)
    (tmp_path / "work").mkdir()
    with pytest.raises(PipelineError) as error:
        fetch_data(git, *resolve_tag(git, OLD), tmp_path / "work", "")
    assert error.value.step == "dvc pull"
    assert "no (intact) copy" in error.value.message


def test_unreachable_repository(tmp_path: Path) -> None:
    with pytest.raises(PipelineError) as error:
        remote_tags(runner(f"file://{tmp_path}/nothing.git", tmp_path))
    assert error.value.step == "git ls-remote"
