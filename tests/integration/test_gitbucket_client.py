"""The GitBucket client against a FAKE GitBucket (offline/fakes/fake_gitbucket.py:
GitBucket cannot run here), with real git over smart HTTP behind it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_clients import gitbucket
from mlops_clients.common import InputError, ServiceError
from offline.fakes.fake_gitbucket import FakeGitBucket, serving

pytestmark = pytest.mark.integration


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeGitBucket]:
    with serving(tmp_path / "repositories") as server:
        yield server


@pytest.fixture
def api(fake: FakeGitBucket) -> gitbucket.GitBucketAPI:
    return gitbucket.GitBucketAPI(fake.base_url, fake.user, fake.password)


def git_log(fake: FakeGitBucket, repo: str) -> list[str]:
    done = subprocess.run(
        ["git", "-C", str(fake.repo_dir("root", repo)), "log", "--format=%s", "main"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split("\n")[:-1]


def git_show(fake: FakeGitBucket, repo: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(fake.repo_dir("root", repo)), "show", f"main:{path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_a_repository_is_created_once(api: gitbucket.GitBucketAPI, fake: FakeGitBucket) -> None:
    first = api.ensure_repo("de_datapreprocessing", "the app")
    assert first == {
        "repo": "root/de_datapreprocessing",
        "created": True,
        "clone_url": f"{fake.base_url}/git/root/de_datapreprocessing.git",
    }
    assert api.ensure_repo("de_datapreprocessing", "the app")["created"] is False
    assert [r for r in fake.requests if r[0] == "POST"] == [("POST", "/api/v3/user/repos")]


@pytest.mark.parametrize("name", ["", "_private", "-dash", "with space", "slash/name", "x" * 101, "ünï"])
def test_names_gitbucket_rejects_are_refused_before_any_call(
    api: gitbucket.GitBucketAPI, fake: FakeGitBucket, name: str
) -> None:
    with pytest.raises(InputError, match="not a repository name GitBucket accepts"):
        api.ensure_repo(name, "")
    assert fake.requests == []


def test_a_repo_created_meanwhile_is_reported_not_taken_for_created(
    api: gitbucket.GitBucketAPI, fake: FakeGitBucket
) -> None:
    api.ensure_repo("raced", "")
    fake.fail_next(1, 404, method="GET")  # our look-up misses it: someone creates it right then
    with pytest.raises(ServiceError, match="already exists on this account"):
        api.ensure_repo("raced", "")


def test_wrong_password_names_service_call_and_answer(fake: FakeGitBucket) -> None:
    api = gitbucket.GitBucketAPI(fake.base_url, "root", "wrong")
    with pytest.raises(ServiceError) as raised:
        api.ensure_repo("repo", "")
    assert str(raised.value) == 'gitbucket: GET /repos/root/repo failed: HTTP 401: {"message": "Bad credentials"}'


def test_a_500_then_200_on_a_look_up_is_retried(api: gitbucket.GitBucketAPI, fake: FakeGitBucket) -> None:
    fake.fail_next(2, 500)
    assert api.ensure_repo("retried", "")["created"] is True
    assert fake.requests[:3] == [("GET", "/api/v3/repos/root/retried")] * 3


def test_a_500_on_a_create_is_not_retried_blindly(api: gitbucket.GitBucketAPI, fake: FakeGitBucket) -> None:
    api.ensure_repo("hooked", "")
    fake.requests.clear()
    fake.fail_next(1, 500, method="POST")
    with pytest.raises(ServiceError, match="POST /repos/root/hooked/hooks failed: HTTP 500"):
        api.ensure_webhook("root", "hooked", "http://jenkins:8080/git/notifyCommit?url=x")
    assert fake.requests == [("GET", "/api/v3/repos/root/hooked/hooks"), ("POST", "/api/v3/repos/root/hooked/hooks")]
    # The next run looks up again and creates it.
    assert api.ensure_webhook("root", "hooked", "http://jenkins:8080/git/notifyCommit?url=x")["changed"] is True


def test_the_webhook_is_kept_in_sync(api: gitbucket.GitBucketAPI, fake: FakeGitBucket) -> None:
    api.ensure_repo("app", "")
    url = "http://jenkins:8080/git/notifyCommit?url=http://gitbucket:8080/git/root/app.git"
    created = api.ensure_webhook("root", "app", url)
    assert created["changed"] is True
    assert api.ensure_webhook("root", "app", url) == {"hook": created["hook"], "changed": False}
    fake.hooks["root/app"][0]["events"] = ["issues"]  # edited by hand in GitBucket
    assert api.ensure_webhook("root", "app", url) == {"hook": created["hook"], "changed": True}
    assert fake.hooks["root/app"][0]["events"] == ["push"]
    assert len(fake.hooks["root/app"]) == 1
    assert [m for m, p in fake.requests if p.endswith("/hooks")].count("POST") == 1


def test_seeding_pushes_one_commit_and_nothing_when_unchanged(
    api: gitbucket.GitBucketAPI, fake: FakeGitBucket, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "job.py").write_text("print('v1')\n")
    (source / "README.md").write_text("app\n")
    (source / "pkg" / "__pycache__").mkdir()
    (source / "pkg" / "__pycache__" / "job.pyc").write_bytes(b"\0")
    repo = api.ensure_repo("seeded", "")
    first = gitbucket.seed_repo(repo["clone_url"], fake.user, fake.password, source)
    assert first["changed"] is True
    again = gitbucket.seed_repo(repo["clone_url"], fake.user, fake.password, source)
    assert again == {**first, "changed": False}
    assert git_log(fake, "seeded") == ["Seed from mlops-stack"]
    assert git_show(fake, "seeded", "pkg/job.py") == "print('v1')\n"
    listing = subprocess.run(
        ["git", "-C", str(fake.repo_dir("root", "seeded")), "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert listing == ["README.md", "pkg/job.py"]


def test_changed_content_becomes_a_new_commit_on_top_never_a_rewrite(
    api: gitbucket.GitBucketAPI, fake: FakeGitBucket, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "a.txt").write_text("1\n")
    repo = api.ensure_repo("evolving", "")
    first = gitbucket.seed_repo(repo["clone_url"], fake.user, fake.password, source)
    (source / "a.txt").write_text("2\n")
    (source / "b.txt").write_text("new\n")
    second = gitbucket.seed_repo(repo["clone_url"], fake.user, fake.password, source, message="Update seed")
    assert second["changed"] is True
    parents = subprocess.run(
        ["git", "-C", str(fake.repo_dir("root", "evolving")), "rev-parse", "main^"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert parents == first["commit"]
    assert git_log(fake, "evolving") == ["Update seed", "Seed from mlops-stack"]
    assert git_show(fake, "evolving", "a.txt") == "2\n"


def test_a_reseed_keeps_what_others_committed(api: gitbucket.GitBucketAPI, fake: FakeGitBucket, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "job.py").write_text("v1\n")
    repo = api.ensure_repo("shared", "")
    gitbucket.seed_repo(repo["clone_url"], fake.user, fake.password, source)
    # The pipeline commits a DVC pointer in between.
    work = tmp_path / "work"
    helper = gitbucket.run_git(["clone", "-q", repo["clone_url"], str(work)], None, fake.user, fake.password)
    assert helper.returncode == 0, helper.stderr
    (work / "data.csv.dvc").write_text("outs: []\n")
    for args in (["add", "data.csv.dvc"], ["commit", "-qm", "Data"], ["push", "-q", "origin", "HEAD:main"]):
        assert gitbucket.run_git(args, work, fake.user, fake.password).returncode == 0
    (source / "job.py").write_text("v2\n")
    gitbucket.seed_repo(repo["clone_url"], fake.user, fake.password, source, message="Update seed")
    assert git_show(fake, "shared", "data.csv.dvc") == "outs: []\n"
    assert git_show(fake, "shared", "job.py") == "v2\n"
    assert git_log(fake, "shared") == ["Update seed", "Data", "Seed from mlops-stack"]


def test_seeding_with_a_wrong_password_fails_without_leaking_it(
    fake: FakeGitBucket, tmp_path: Path, api: gitbucket.GitBucketAPI
) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "a.txt").write_text("1\n")
    repo = api.ensure_repo("locked", "")
    with pytest.raises(ServiceError) as raised:
        gitbucket.seed_repo(repo["clone_url"], "root", "not-the-Password", source)
    assert raised.value.call.startswith("git clone")
    assert "not-the-Password" not in str(raised.value)


def tree(fake: FakeGitBucket, repo: str) -> list[str]:
    return subprocess.run(
        ["git", "-C", str(fake.repo_dir("root", repo)), "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


def test_seeding_outside_git_never_pushes_what_a_gitignore_keeps_out(
    api: gitbucket.GitBucketAPI, fake: FakeGitBucket, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    (source / "data" / "processed").mkdir(parents=True)
    (source / ".gitignore").write_text(".env\n")
    (source / ".env").write_text("S3_SECRET=do-not-push\n")
    (source / "job.py").write_text("print(1)\n")
    (source / "data" / "processed" / ".gitignore").write_text("/*\n!/.gitignore\n!/*.dvc\n")
    (source / "data" / "processed" / "features.csv").write_text("a,b\n")
    repo = api.ensure_repo("ignoring", "")
    gitbucket.seed_repo(repo["clone_url"], fake.user, fake.password, source)
    assert tree(fake, "ignoring") == [".gitignore", "data/processed/.gitignore", "job.py"]


def test_seeding_from_a_git_work_tree_pushes_exactly_the_tracked_files(
    api: gitbucket.GitBucketAPI, fake: FakeGitBucket, tmp_path: Path
) -> None:
    """Untracked files stay local, ignored (.env, by the project's .gitignore: the seed's
    own does not cover it) or not (a scratch file); a tracked file goes even where a
    .gitignore would skip it (the plan-time hash counted it)."""
    project = tmp_path / "project"
    source = project / "app"
    source.mkdir(parents=True)
    (project / ".gitignore").write_text(".env\n")
    (source / ".gitignore").write_text("*.local\n")
    (source / "job.py").write_text("print(1)\n")
    (source / "settings.local").write_text("tracked on purpose\n")
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.test"]
    for args in (["init", "-q"], ["add", "-A"], ["add", "-f", "app/settings.local"], ["commit", "-qm", "app"]):
        subprocess.run(["git", *identity, *args], cwd=project, check=True, capture_output=True, timeout=30)
    (source / ".env").write_text("S3_SECRET=do-not-push\n")
    (source / "scratch.txt").write_text("notes\n")
    repo = api.ensure_repo("tracked", "")
    seeded = gitbucket.seed_repo(repo["clone_url"], fake.user, fake.password, source)
    assert tree(fake, "tracked") == [".gitignore", "job.py", "settings.local"]
    # Untracked changes are no change of the seed.
    (source / "scratch.txt").write_text("more notes\n")
    assert gitbucket.seed_repo(repo["clone_url"], fake.user, fake.password, source) == {**seeded, "changed": False}


def test_a_symbolic_link_in_the_repository_is_never_written_through(
    api: gitbucket.GitBucketAPI, fake: FakeGitBucket, tmp_path: Path
) -> None:
    """The clone is GitBucket's content: a link committed there must not lead the seed's
    writes out of the clone (here onto a file of this machine)."""
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    repo = api.ensure_repo("linked", "")
    work = tmp_path / "work"
    assert gitbucket.run_git(["clone", "-q", repo["clone_url"], str(work)], None, fake.user, fake.password)
    (work / "job.py").symlink_to(victim)
    (work / "pkg").symlink_to(tmp_path)
    for args in (["add", "-A"], ["commit", "-qm", "Links"], ["push", "-q", "origin", "HEAD:main"]):
        gitbucket.run_git(args, work, fake.user, fake.password)
    source = tmp_path / "source"
    source.mkdir()
    (source / "job.py").write_text("print(1)\n")
    gitbucket.seed_repo(repo["clone_url"], fake.user, fake.password, source)
    assert victim.read_text() == "untouched\n"
    assert git_show(fake, "linked", "job.py") == "print(1)\n"  # the link replaced by the seed's file
    (source / "pkg").mkdir()
    (source / "pkg" / "victim.txt").write_text("overwritten\n")
    with pytest.raises(ServiceError, match="pkg is a symbolic link in the repository"):
        gitbucket.seed_repo(repo["clone_url"], fake.user, fake.password, source)
    assert victim.read_text() == "untouched\n"
