"""The GitBucket client against a FAKE GitBucket (offline/fakes/fake_gitbucket.py:
GitBucket cannot run here), with real git over smart HTTP behind it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest
import requests

from mlops_clients import gitbucket, mysql
from mlops_clients.common import InputError, ServiceError
from mlops_clients.contracts import GitBucketAction, GitBucketEnv, MySQLEnv
from offline.fakes.fake_gitbucket import DatabaseAccounts, FakeGitBucket, adopt_earlier_folders, serving
from tests.support.containers import MySQLServer, new_password

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
        "private": True,
    }
    again = api.ensure_repo("de_datapreprocessing", "the app")
    assert again["created"] is False and again["private"] is True
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
    # Looked up again (created after all?), not there: the error names the likely hidden hook.
    assert fake.requests == [
        ("GET", "/api/v3/repos/root/hooked/hooks"),
        ("POST", "/api/v3/repos/root/hooked/hooks"),
        ("GET", "/api/v3/repos/root/hooked/hooks"),
    ]
    assert fake.hooks["root/hooked"] == []
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


def test_an_unseeded_repo_and_a_pull_request_hook_as_the_program_asks_for_them(fake: FakeGitBucket) -> None:
    """jenkins.previewRepo: ENSURE_REPO without SEED_SOURCE creates the repo and writes nothing;
    HOOK_EVENTS names the events; an unknown one is refused before any call."""
    environment = {
        **os.environ,
        GitBucketEnv.URL: fake.base_url,
        GitBucketEnv.USER: fake.user,
        GitBucketEnv.PASSWORD: fake.password,
        GitBucketEnv.REPO_NAME: "infra",
        GitBucketEnv.HOOK_URL: "http://jenkins:8080/git/notifyCommit?url=http://gitbucket:8080/git/root/infra.git",
        GitBucketEnv.HOOK_EVENTS: "push,pull_request",
    }

    def run(action: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mlops_clients.gitbucket", action]
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120, check=False)

    api = gitbucket.GitBucketAPI(fake.base_url, fake.user, fake.password)
    api.ensure_repo("public_one", "", private=False)
    environment[GitBucketEnv.REPO_NAME] = "public_one"
    public = run(GitBucketAction.ENSURE_REPO)
    assert public.returncode != 0 and "repository root/public_one exists and is public" in public.stderr
    environment[GitBucketEnv.REPO_NAME] = "infra"
    created = run(GitBucketAction.ENSURE_REPO)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["seed"] is None and json.loads(created.stdout)["private"] is True
    again = run(GitBucketAction.ENSURE_REPO)
    assert again.returncode == 0 and json.loads(again.stdout)["created"] is False
    refs = ["git", "-C", str(fake.repo_dir("root", "infra")), "for-each-ref"]
    assert subprocess.run(refs, capture_output=True, text=True, check=True).stdout == ""  # no commit, no branch
    hooked = run(GitBucketAction.ENSURE_WEBHOOK)
    assert hooked.returncode == 0, hooked.stderr
    assert sorted(fake.hooks["root/infra"][0]["events"]) == ["pull_request", "push"]
    environment[GitBucketEnv.HOOK_EVENTS] = "push,pullrequest"
    calls = len(fake.requests)
    refused = run(GitBucketAction.ENSURE_WEBHOOK)
    assert refused.returncode != 0 and "HOOK_EVENTS: unknown event(s) pullrequest" in refused.stderr
    assert len(fake.requests) == calls


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


# The automation account: not an admin, a writer on the seeded repositories only.

AUTOMATION = "mlops-automation"
AUTOMATION_PASSWORD = "automation-Pass-1"


def no_database(user: str, password: str) -> dict[str, Any]:
    raise AssertionError(f"the password of a new account ({user}) is set by GitBucket, not through its database")


@pytest.fixture
def automation(api: gitbucket.GitBucketAPI) -> gitbucket.GitBucketAPI:
    """The automation account, created by root: its own API session."""
    gitbucket.ensure_account(api, AUTOMATION, AUTOMATION_PASSWORD, write_password=no_database)
    return gitbucket.GitBucketAPI(api.base_url, AUTOMATION, AUTOMATION_PASSWORD)


def seeded(api: gitbucket.GitBucketAPI, fake: FakeGitBucket, tmp_path: Path, name: str) -> str:
    source = tmp_path / f"seed-{name}"
    source.mkdir()
    (source / "job.py").write_text("print(1)\n")
    clone_url = str(api.ensure_repo(name, "")["clone_url"])
    gitbucket.seed_repo(clone_url, fake.user, fake.password, source)
    return clone_url


def push_commit(clone_url: str, work: Path, user: str, password: str) -> subprocess.CompletedProcess[str]:
    """Clone as `user`, commit a file and a tag, push both (the pipeline's writes)."""
    gitbucket.run_git(["clone", "-q", clone_url, str(work)], None, user, password)
    (work / "data.csv.dvc").write_text("outs: []\n")
    for args in (["add", "data.csv.dvc"], ["commit", "-qm", "Data"], ["tag", "CV_Data_DV_20260101T000000Z"]):
        gitbucket.run_git(args, work, user, password)
    return gitbucket.run_git(
        ["push", "-q", "origin", "HEAD:main", "refs/tags/CV_Data_DV_20260101T000000Z"], work, user, password
    )


def test_the_automation_account_is_created_as_a_plain_user(api: gitbucket.GitBucketAPI, fake: FakeGitBucket) -> None:
    result = gitbucket.ensure_account(api, AUTOMATION, AUTOMATION_PASSWORD, write_password=no_database)
    assert result == {"user": AUTOMATION, "created": True, "password_changed": False}
    assert ("POST", "/api/v3/admin/users") in fake.requests
    me = gitbucket.GitBucketAPI(api.base_url, AUTOMATION, AUTOMATION_PASSWORD).whoami()
    assert (me["login"], me["type"], me["site_admin"]) == (AUTOMATION, "User", False)


def test_the_automation_account_cannot_use_admin_routes(
    automation: gitbucket.GitBucketAPI, api: gitbucket.GitBucketAPI
) -> None:
    with pytest.raises(ServiceError) as raised:
        automation.create_user("intruder", "intruder-Pass-1", "intruder@localhost")
    assert raised.value.call == "POST /admin/users"
    assert raised.value.answer.startswith("HTTP 401")
    assert api.get_user("intruder") is None
    # Nor make itself a collaborator of a repository it does not own.
    api.ensure_repo("private", "")
    with pytest.raises(ServiceError, match=r"GET /repos/root/private/collaborators/.+ failed: HTTP 401"):
        automation.ensure_collaborator("root", "private", AUTOMATION)
    url = f"{api.base_url}/api/v3/repos/root/private/collaborators/{AUTOMATION}"
    put = requests.put(url, json={"permission": "push"}, auth=(AUTOMATION, AUTOMATION_PASSWORD), timeout=10)
    assert (put.status_code, put.json()) == (401, {"message": "Requires authentication"})
    assert api.collaborator_permission("root", "private", AUTOMATION) is None


def test_a_collaborator_with_write_pushes_commits_and_tags(
    automation: gitbucket.GitBucketAPI, api: gitbucket.GitBucketAPI, fake: FakeGitBucket, tmp_path: Path
) -> None:
    clone_url = seeded(api, fake, tmp_path, "de_datapreprocessing")
    first = api.ensure_collaborator("root", "de_datapreprocessing", AUTOMATION)
    assert first == {"repo": "root/de_datapreprocessing", "user": AUTOMATION, "permission": "push", "changed": True}
    assert api.ensure_collaborator("root", "de_datapreprocessing", AUTOMATION) == {**first, "changed": False}
    assert [p for m, p in fake.requests if m == "PUT"] == [
        "/api/v3/repos/root/de_datapreprocessing/collaborators/" + AUTOMATION
    ]
    pushed = push_commit(clone_url, tmp_path / "work", AUTOMATION, AUTOMATION_PASSWORD)
    assert pushed.returncode == 0
    assert git_log(fake, "de_datapreprocessing") == ["Data", "Seed from mlops-stack"]
    assert automation.get_repo("root", "de_datapreprocessing") is not None


def test_the_automation_account_can_neither_read_nor_push_another_private_repo(
    automation: gitbucket.GitBucketAPI, api: gitbucket.GitBucketAPI, fake: FakeGitBucket, tmp_path: Path
) -> None:
    seeded(api, fake, tmp_path, "de_datapreprocessing")
    api.ensure_collaborator("root", "de_datapreprocessing", AUTOMATION)
    other = seeded(api, fake, tmp_path, "operators_only")
    with pytest.raises(ServiceError) as raised:
        gitbucket.run_git(["clone", "-q", other, str(tmp_path / "read")], None, AUTOMATION, AUTOMATION_PASSWORD)
    assert "Authentication failed" in raised.value.answer or "401" in raised.value.answer
    with pytest.raises(ServiceError, match=r"GET /repos/root/operators_only failed: HTTP 401"):
        automation.get_repo("root", "operators_only")
    # A push, with a clone made by root: refused as well.
    work = tmp_path / "push"
    gitbucket.run_git(["clone", "-q", other, str(work)], None, fake.user, fake.password)
    (work / "x.txt").write_text("x\n")
    for args in (["add", "x.txt"], ["commit", "-qm", "Intrusion"]):
        gitbucket.run_git(args, work, fake.user, fake.password)
    with pytest.raises(ServiceError, match="git push"):
        gitbucket.run_git(["push", "-q", "origin", "HEAD:main"], work, AUTOMATION, AUTOMATION_PASSWORD)
    assert git_log(fake, "operators_only") == ["Seed from mlops-stack"]


def test_a_collaborator_with_another_permission_is_set_to_write(
    automation: gitbucket.GitBucketAPI, api: gitbucket.GitBucketAPI, fake: FakeGitBucket, tmp_path: Path
) -> None:
    """GitBucket's PUT inserts a row (a second PUT is a key violation): a read-only or
    admin collaborator is removed and added again with write."""
    clone_url = seeded(api, fake, tmp_path, "app")
    for permission in ("pull", "admin"):
        api.ensure_collaborator("root", "app", AUTOMATION, permission=permission)
        assert api.ensure_collaborator("root", "app", AUTOMATION)["changed"] is True
        assert api.collaborator_permission("root", "app", AUTOMATION) == "push"
    assert push_commit(clone_url, tmp_path / "work", AUTOMATION, AUTOMATION_PASSWORD).returncode == 0


def test_a_read_only_collaborator_cannot_push(
    automation: gitbucket.GitBucketAPI, api: gitbucket.GitBucketAPI, fake: FakeGitBucket, tmp_path: Path
) -> None:
    clone_url = seeded(api, fake, tmp_path, "app")
    api.ensure_collaborator("root", "app", AUTOMATION, permission="pull")
    with pytest.raises(ServiceError, match="git push"):
        push_commit(clone_url, tmp_path / "work", AUTOMATION, AUTOMATION_PASSWORD)
    assert automation.get_repo("root", "app") is not None  # but it may read


def test_an_existing_admin_of_that_name_is_refused(api: gitbucket.GitBucketAPI) -> None:
    api.create_user(AUTOMATION, AUTOMATION_PASSWORD, "automation@localhost", admin=True)
    with pytest.raises(ServiceError, match="is a site admin"):
        gitbucket.ensure_account(api, AUTOMATION, AUTOMATION_PASSWORD, write_password=no_database)


@pytest.mark.parametrize("name", ["", "_x", "-x", "with space", "a/b", "x" * 101, "admin", "Git"])
def test_account_names_gitbucket_refuses_are_refused_before_any_call(
    api: gitbucket.GitBucketAPI, fake: FakeGitBucket, name: str
) -> None:
    with pytest.raises(InputError):
        gitbucket.ensure_account(api, name, AUTOMATION_PASSWORD, write_password=no_database)
    assert fake.requests == []


# The same against the fake's accounts in MySQL, as in the stack: rotation writes the hash there.


@dataclass(frozen=True)
class GitBucketDatabase:
    host: str
    port: int
    database: str
    user: str
    password: str

    def connect(self) -> pymysql.connections.Connection:
        return mysql.connect(self.host, self.port, self.user, self.password, database=self.database)

    def jdbc(self) -> tuple[str, str, str]:
        """What the fake's DatabaseAccounts takes: URL, user, password."""
        return f"jdbc:mysql://{self.host}:{self.port}/{self.database}", self.user, self.password

    def env(self) -> dict[str, str]:
        return {
            MySQLEnv.HOST: self.host,
            MySQLEnv.PORT: str(self.port),
            MySQLEnv.DB_NAME: self.database,
            MySQLEnv.DB_USER: self.user,
            MySQLEnv.DB_PASSWORD: self.password,
        }


ROOT_PASSWORD = "root-Pass-of-the-stack"


@pytest.fixture
def database(mysql_server: MySQLServer) -> GitBucketDatabase:
    name = f"gb_{uuid.uuid4().hex[:8]}"
    password = new_password()
    with mysql.connect(mysql_server.host, mysql_server.port, "root", mysql_server.root_password) as conn:
        mysql.ensure_database(conn, name, name, password)
    return GitBucketDatabase(mysql_server.host, mysql_server.port, name, name, password)


@pytest.fixture
def db_fake(database: GitBucketDatabase, tmp_path: Path) -> Iterator[FakeGitBucket]:
    jdbc = f"jdbc:mysql://{database.host}:{database.port}/{database.database}"
    store = DatabaseAccounts(jdbc, database.user, database.password)
    with database.connect() as conn:  # as the stack does: root/root replaced first
        gitbucket.set_account_password(conn, "root", ROOT_PASSWORD)
    with serving(tmp_path / "repositories", accounts=store) as server:
        yield server


def write_password_with(database: GitBucketDatabase) -> Any:
    def write(user: str, password: str) -> dict[str, Any]:
        with database.connect() as conn:
            return gitbucket.set_account_password(conn, user, password)

    return write


def test_ensuring_the_account_twice_changes_nothing(db_fake: FakeGitBucket, database: GitBucketDatabase) -> None:
    root = gitbucket.GitBucketAPI(db_fake.base_url, "root", ROOT_PASSWORD)
    write = write_password_with(database)
    assert gitbucket.ensure_account(root, AUTOMATION, AUTOMATION_PASSWORD, write_password=write)["created"] is True
    with database.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT PASSWORD, ADMINISTRATOR FROM ACCOUNT WHERE USER_NAME = %s", (AUTOMATION,))
        stored, administrator = cursor.fetchone()
    assert stored.startswith("$pbkdf2-sha256$") and not administrator
    again = gitbucket.ensure_account(root, AUTOMATION, AUTOMATION_PASSWORD, write_password=write)
    assert again == {"user": AUTOMATION, "created": False, "password_changed": False}
    assert [r for r in db_fake.requests if r[0] == "POST"] == [("POST", "/api/v3/admin/users")]
    with database.connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT PASSWORD FROM ACCOUNT WHERE USER_NAME = %s", (AUTOMATION,))
        assert cursor.fetchone() == (stored,)  # not even a new salt


def test_the_automation_password_is_rotated(
    db_fake: FakeGitBucket, database: GitBucketDatabase, tmp_path: Path
) -> None:
    root = gitbucket.GitBucketAPI(db_fake.base_url, "root", ROOT_PASSWORD)
    write = write_password_with(database)
    gitbucket.ensure_account(root, AUTOMATION, AUTOMATION_PASSWORD, write_password=write)
    root.ensure_repo("app", "")
    root.ensure_collaborator("root", "app", AUTOMATION)
    rotated = "rotated-Pass-2"
    assert gitbucket.ensure_account(root, AUTOMATION, rotated, write_password=write) == {
        "user": AUTOMATION,
        "created": False,
        "password_changed": True,
    }
    with pytest.raises(ServiceError, match="HTTP 401"):
        gitbucket.GitBucketAPI(db_fake.base_url, AUTOMATION, AUTOMATION_PASSWORD).whoami()
    assert gitbucket.GitBucketAPI(db_fake.base_url, AUTOMATION, rotated).get_repo("root", "app") is not None
    clone_url = f"{db_fake.base_url}/git/root/app.git"
    assert gitbucket.run_git(["ls-remote", clone_url], None, AUTOMATION, rotated).returncode == 0
    with pytest.raises(ServiceError):
        gitbucket.run_git(["ls-remote", clone_url], None, AUTOMATION, AUTOMATION_PASSWORD)
    # Root is untouched.
    assert root.whoami()["site_admin"] is True


def test_the_set_up_steps_run_as_the_stack_runs_them(db_fake: FakeGitBucket, database: GitBucketDatabase) -> None:
    """`python -m mlops_clients.gitbucket <action>` with the environment the program gives it."""
    root = gitbucket.GitBucketAPI(db_fake.base_url, "root", ROOT_PASSWORD)
    root.ensure_repo("app", "")
    environment = {
        **os.environ,
        **database.env(),
        GitBucketEnv.URL: db_fake.base_url,
        GitBucketEnv.USER: "root",
        GitBucketEnv.PASSWORD: ROOT_PASSWORD,
        GitBucketEnv.AUTOMATION_USER: AUTOMATION,
        GitBucketEnv.AUTOMATION_PASSWORD: AUTOMATION_PASSWORD,
        GitBucketEnv.REPO_NAME: "app",
    }

    def run(action: str) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "mlops_clients.gitbucket", action],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert AUTOMATION_PASSWORD not in done.stdout + done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    assert run(GitBucketAction.ENSURE_ACCOUNT)["created"] is True
    assert run(GitBucketAction.ENSURE_ACCOUNT)["created"] is False
    assert run(GitBucketAction.ENSURE_COLLABORATOR)["changed"] is True
    assert run(GitBucketAction.ENSURE_COLLABORATOR)["changed"] is False
    environment[GitBucketEnv.AUTOMATION_PASSWORD] = "rotated-Pass-3"
    assert run(GitBucketAction.ENSURE_ACCOUNT)["password_changed"] is True


def test_the_fake_upgrades_an_account_table_of_an_earlier_version(database: GitBucketDatabase) -> None:
    """A retained e2e volume holds the fake's first ACCOUNT table (name and password only)."""
    with database.connect() as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE ACCOUNT (USER_NAME VARCHAR(100) PRIMARY KEY, PASSWORD VARCHAR(200) NOT NULL)")
        cursor.execute("INSERT INTO ACCOUNT VALUES ('root', %s)", (gitbucket.pbkdf2_hash(ROOT_PASSWORD),))
        conn.commit()
    jdbc = f"jdbc:mysql://{database.host}:{database.port}/{database.database}"
    store = DatabaseAccounts(jdbc, database.user, database.password)
    root = store.authenticate("root", ROOT_PASSWORD)
    assert root is not None and root.admin and root.email == "root@localhost"
    assert store.authenticate("root", "root") is None  # the password set before stays


def test_a_new_database_beside_a_kept_repository_folder_is_named(
    db_fake: FakeGitBucket, database: GitBucketDatabase
) -> None:
    """GitBucket's case the e2e stack can meet: the volume kept, the database made anew."""
    root = gitbucket.GitBucketAPI(db_fake.base_url, "root", ROOT_PASSWORD)
    root.ensure_repo("kept", "")
    with database.connect() as conn, conn.cursor() as cursor:
        cursor.execute("DELETE FROM REPOSITORY")
        conn.commit()
    with pytest.raises(gitbucket.LeftoverRepositoryFolder, match=r"repositories/root/kept\.git probably exists"):
        root.ensure_repo("kept", "")
    # A new database (the fake's store was made on one) adopts no folder, even at its first start.
    assert isinstance(db_fake.store, DatabaseAccounts) and not db_fake.store.new_repository_table
    assert adopt_earlier_folders(db_fake.root, db_fake.store) == []


def test_the_fake_adopts_the_folders_of_its_earlier_version(database: GitBucketDatabase, tmp_path: Path) -> None:
    """Its database from before the REPOSITORY table: its folders were its repositories."""
    with database.connect() as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE ACCOUNT (USER_NAME VARCHAR(100) PRIMARY KEY, PASSWORD VARCHAR(200) NOT NULL)")
        conn.commit()
    for folder in ("root/app.git", "root/app.wiki.git"):
        subprocess.run(["git", "init", "--quiet", "--bare", str(tmp_path / folder)], check=True)
    store = DatabaseAccounts(*database.jdbc())
    assert adopt_earlier_folders(tmp_path, store) == ["root/app"]
    assert store.has_repository("root", "app") and not store.has_repository("root", "app.wiki")
    assert adopt_earlier_folders(tmp_path, DatabaseAccounts(*database.jdbc())) == []  # once
