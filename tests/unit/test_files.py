"""Plan-time hashes of what the program ships, and the seed's file list they are made of."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from components.files import PROJECT_DIR, content_hash, context_hash
from mlops_clients.common import ServiceError, seed_files

APP_SOURCE = PROJECT_DIR / "gitbucket_repos" / "de_datapreprocessing"


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.test", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def names(source: Path) -> list[str]:
    return [p.as_posix() for p in seed_files(source)]


@pytest.fixture
def work_tree(tmp_path: Path) -> Path:
    """A git work tree whose `app/` (the seed source) has tracked, ignored and scratch files."""
    git("init", "--quiet", str(tmp_path))
    app = tmp_path / "app"
    write(app / ".gitignore", ".env\n/data/\n")
    write(app / "job.py", "print(1)\n")
    write(app / "pkg" / "mod.py", "x = 1\n")
    write(app / "gone.py", "tracked, then deleted from the work tree\n")
    write(app / "pkg" / "__pycache__" / "mod.pyc", "tracked by mistake\n")
    write(tmp_path / "outside.txt", "tracked, not in the source\n")
    git("add", "--all", cwd=tmp_path)
    git("add", "--force", "app/pkg/__pycache__/mod.pyc", cwd=tmp_path)
    git("commit", "--quiet", "-m", "seed", cwd=tmp_path)
    (app / "gone.py").unlink()
    write(app / ".env", "PASSWORD=secret\n")  # untracked, ignored
    write(app / "data" / "features.csv", "a,b\n")  # untracked, ignored
    write(app / "scratch.txt", "notes\n")  # untracked, not ignored
    return app


def test_content_hash_follows_content_and_ignores_caches(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("1")
    before = content_hash(tmp_path)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.pyc").write_text("junk")
    assert content_hash(tmp_path) == before
    (tmp_path / "a.txt").write_text("2")
    assert content_hash(tmp_path) != before


def test_in_a_git_work_tree_only_tracked_files_are_seeded(work_tree: Path) -> None:
    assert names(work_tree) == [".gitignore", "job.py", "pkg/mod.py"]


def test_in_a_git_work_tree_the_hash_ignores_untracked_files(work_tree: Path) -> None:
    before = content_hash(work_tree)
    write(work_tree / ".env", "PASSWORD=changed\n")
    write(work_tree / "scratch.txt", "more notes\n")
    write(work_tree / "other-scratch.txt", "new\n")
    assert content_hash(work_tree) == before
    write(work_tree / "job.py", "print(2)\n")  # tracked: its work-tree content counts
    assert content_hash(work_tree) != before


def test_outside_git_the_gitignore_files_decide(tmp_path: Path) -> None:
    source = tmp_path / "copy"
    write(source / ".gitignore", ".env\n*.log\n")
    write(source / "job.py", "print(1)\n")
    write(source / ".env", "PASSWORD=secret\n")
    write(source / "run.log", "log\n")
    write(source / "scratch.txt", "notes\n")  # kept: no .gitignore covers it
    write(source / "data" / "processed" / ".gitignore", "/*\n!/.gitignore\n!/*.dvc\n")
    write(source / "data" / "processed" / "features.csv", "a,b\n")
    write(source / "data" / "processed" / "features.csv.dvc", "outs: []\n")
    write(source / "deep" / ".gitignore", "local.cfg\n")
    write(source / "deep" / "local.cfg", "x\n")
    write(source / "deep" / "kept.cfg", "y\n")
    write(source / ".git" / "config", "a .git directory that is not a repository\n")
    write(source / ".pytest_cache" / "v" / "x", "cache\n")
    (source / "link").symlink_to(tmp_path / "elsewhere")
    write(tmp_path / "elsewhere", "outside the source\n")
    assert names(source) == [
        ".gitignore",
        "data/processed/.gitignore",
        "data/processed/features.csv.dvc",
        "deep/.gitignore",
        "deep/kept.cfg",
        "job.py",
        "scratch.txt",
    ]


def test_the_app_never_seeds_its_env_file_or_local_data(tmp_path: Path) -> None:
    """The app's own .gitignore files, in a copy without .git (as the e2e tests run the project)."""
    copy = tmp_path / "de_datapreprocessing"
    shutil.copytree(APP_SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    write(copy / ".env", "S3_SECRET=x\n")
    write(copy / ".env.local", "S3_SECRET=x\n")
    write(copy / "data" / "processed" / "features.csv", "a,b\n")
    write(copy / "data" / "processed" / "features.csv.tmp", "a,b\n")
    seeded = names(copy)
    assert not {".env", ".env.local", "data/processed/features.csv", "data/processed/features.csv.tmp"} & set(seeded)
    assert {"Jenkinsfile", "de_datapreprocessing/job.py", "data/processed/.gitignore"} <= set(seeded)


def test_a_git_variable_of_the_calling_process_does_not_redirect_the_listing(
    work_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    git("init", "--quiet", str(other))
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))  # as set when running from a git hook
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    assert names(work_tree) == [".gitignore", "job.py", "pkg/mod.py"]


def test_a_repository_git_refuses_to_read_is_an_error_not_a_guess(
    work_tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repository of another owner ("dubious ownership") is not "no repository": listing
    it by the .gitignore rules would seed untracked files."""
    empty = work_tree.parent / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))  # no safe.directory exception of this machine
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")  # git's own test switch (git >= 2.35.2)
    probe = subprocess.run(
        ["git", "-C", str(work_tree), "status"], capture_output=True, text=True, check=False, timeout=30
    )
    if "dubious ownership" not in probe.stderr:
        pytest.skip("this git cannot be made to distrust a repository")
    with pytest.raises(ServiceError, match="dubious ownership"):
        seed_files(work_tree)


def test_an_image_context_hash_counts_every_file_tracked_or_not(work_tree: Path) -> None:
    """A derived image is rebuilt when any file docker build reads changes, committed yet or not."""
    before = context_hash(work_tree)
    (work_tree / "untracked.txt").write_text("new")
    after = context_hash(work_tree)
    assert after != before
    (work_tree / "untracked.txt").chmod(0o755)
    assert context_hash(work_tree) != after
