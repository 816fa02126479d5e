"""Posting the preview comment (preview_comment/post.py, `python -m preview_comment --post`).

Against the FAKE GitHub (offline/fakes/fake_github.py) and the FAKE GitBucket
(offline/fakes/fake_gitbucket.py), each served on 127.0.0.1: neither forge can run here.
The GitBucket pull request is opened through the fake's API, as on GitBucket, between two
branches committed into its repository; the GitHub one is seeded (`add_pull`).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from offline.fakes import fake_github
from offline.fakes.fake_gitbucket import FakeGitBucket
from offline.fakes.fake_gitbucket import serving as serving_gitbucket
from preview_comment.__main__ import main
from preview_comment.post import (
    GITBUCKET_MAX_BYTES,
    GITHUB_MAX_CHARS,
    STAMP_SIZE,
    GitBucket,
    GitHub,
    PostError,
    intact,
    max_limit,
    stacks_of,
    stamped,
    upsert,
)
from tests.unit.test_preview_comment import FIXTURES, PLAINTEXTS, document, synthetic_secrets, unretained

TOOL_TOKEN = "ghp_T00lT0kenThatMustNeverBePrinted"
ALICE_TOKEN = "ghp_AliceT0ken"
APP_TOKEN = "ghs_AppInstallati0nT0ken"
TOOL_PASSWORD = "gitbucket-r00t-Passw0rd-never-printed"
ALICE_PASSWORD = "alice-Passw0rd"
MARKER = "<!-- mlops-stack-preview:e2e -->"


@dataclass
class Site:
    """A forge fake with an open pull request, seen the way the tests need it."""

    kind: str
    repo: str
    pr: int
    env: dict[str, str]
    tool_login: str
    comments: Callable[[], list[tuple[int, str, str]]]  # (id, author, body), oldest first
    person_posts: Callable[[str], int]  # alice comments on the pull request: the new id
    person_edits: Callable[[int, str], None]  # alice edits a comment
    requests: Callable[[], list[tuple[str, str]]]
    person_labels: Callable[[str], None]  # alice puts a label on the pull request

    def run(self, *files: str, extra: tuple[str, ...] = ()) -> int:
        args = [arg for spec in files for arg in ("--json-file", spec)]
        return main([*args, "--post", self.kind, "--repo", self.repo, "--pr", str(self.pr), *extra])

    def tool_comments(self) -> list[tuple[int, str, str]]:
        return [c for c in self.comments() if c[1] == self.tool_login]


def _commit(repo_dir: Path, branch: str, content: str, parent: str | None = None) -> str:
    """A commit on `branch` of a bare repository, with git's plumbing (no work tree)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@localhost",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@localhost",
    }

    def git(*args: str, stdin: str = "") -> str:
        done = subprocess.run(["git", "-C", str(repo_dir), *args], input=stdin, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    blob = git("hash-object", "-w", "--stdin", stdin=content)
    tree = git("mktree", stdin=f"100644 blob {blob}\tREADME\n")
    commit = git("commit-tree", tree, *(["-p", parent] if parent else []), "-m", content)
    git("update-ref", f"refs/heads/{branch}", commit)
    return commit


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def gitbucket_fake(tmp_path: Path) -> Iterator[FakeGitBucket]:
    with serving_gitbucket(tmp_path / "repositories", password=TOOL_PASSWORD) as fake:
        yield fake


def _gitbucket_site(fake: FakeGitBucket) -> Site:
    api = f"{fake.base_url}/api/v3"
    root = _basic(fake.user, fake.password)
    alice = _basic("alice", ALICE_PASSWORD)
    assert requests.post(f"{api}/user/repos", json={"name": "app"}, headers=root, timeout=10).status_code == 200
    base = _commit(fake.repo_dir("root", "app"), "main", "one")
    head = _commit(fake.repo_dir("root", "app"), "feature", "two", parent=base)
    user = {"login": "alice", "password": ALICE_PASSWORD, "email": "alice@localhost"}
    assert requests.post(f"{api}/admin/users", json=user, headers=root, timeout=10).status_code == 200
    put = requests.put(
        f"{api}/repos/root/app/collaborators/alice", json={"permission": "push"}, headers=root, timeout=10
    )
    assert put.status_code == 204
    opened = requests.post(
        f"{api}/repos/root/app/pulls",
        json={"title": "A change", "head": "feature", "base": "main", "body": "please review"},
        headers=alice,
        timeout=10,
    )
    assert opened.status_code == 200 and opened.json()["number"] == 1
    assert opened.json()["base"]["sha"] == base  # the merge base
    repo_dir = str(fake.repo_dir("root", "app"))
    kept = subprocess.run(["git", "-C", repo_dir, "rev-parse", "refs/pull/1/head"], capture_output=True, text=True)
    assert kept.stdout.strip() == head  # what CI builds

    def comments() -> list[tuple[int, str, str]]:
        answer = requests.get(f"{api}/repos/root/app/issues/1/comments", headers=root, timeout=10)
        return [(c["id"], c["user"]["login"], c["body"]) for c in answer.json()]

    def person_posts(body: str) -> int:
        answer = requests.post(
            f"{api}/repos/root/app/issues/1/comments", json={"body": body}, headers=alice, timeout=10
        )
        assert answer.status_code == 200
        return int(answer.json()["id"])

    def person_edits(ident: int, body: str) -> None:
        answer = requests.patch(
            f"{api}/repos/root/app/issues/comments/{ident}", json={"body": body}, headers=alice, timeout=10
        )
        assert answer.status_code == 200

    def person_labels(name: str) -> None:
        url = f"{api}/repos/root/app/issues/1/labels"
        answer = requests.post(url, json={"labels": [name]}, headers=alice, timeout=10)
        assert answer.status_code == 200 and [label["name"] for label in answer.json()] == [name]

    env = {"GITBUCKET_URL": fake.base_url, "GITBUCKET_USER": fake.user, "GITBUCKET_PASSWORD": fake.password}
    return Site(
        "gitbucket",
        "root/app",
        1,
        env,
        fake.user,
        comments,
        person_posts,
        person_edits,
        lambda: fake.requests,
        person_labels,
    )


@pytest.fixture
def github_fake() -> Iterator[fake_github.FakeGitHub]:
    tokens = {TOOL_TOKEN: "preview-bot", ALICE_TOKEN: "alice"}
    with fake_github.serving(tokens=tokens, app_tokens={APP_TOKEN: "github-actions[bot]"}, max_per_page=2) as fake:
        fake.maintainers.add("alice")
        fake.add_pull("octo", "app", 7)
        yield fake


def _github_site(fake: fake_github.FakeGitHub) -> Site:
    alice = {"Authorization": f"Bearer {ALICE_TOKEN}"}

    def comments() -> list[tuple[int, str, str]]:
        return [(c["id"], c["login"], c["body"]) for c in fake.comments_of("octo", "app", 7)]

    def person_posts(body: str) -> int:
        url = f"{fake.base_url}/repos/octo/app/issues/7/comments"
        answer = requests.post(url, json={"body": body}, headers=alice, timeout=10)
        assert answer.status_code == 201
        return int(answer.json()["id"])

    def person_edits(ident: int, body: str) -> None:
        url = f"{fake.base_url}/repos/octo/app/issues/comments/{ident}"
        assert requests.patch(url, json={"body": body}, headers=alice, timeout=10).status_code == 200

    def person_labels(name: str) -> None:  # the fake has no label API: as GitHub would show it
        labels = fake.pulls[("octo", "app", 7)]["labels"]
        labels.append({"id": len(labels) + 1, "name": name, "color": "ededed", "default": False})

    env = {"GITHUB_TOKEN": TOOL_TOKEN, "GITHUB_API_URL": fake.base_url}
    return Site(
        "github",
        "octo/app",
        7,
        env,
        "preview-bot",
        comments,
        person_posts,
        person_edits,
        lambda: fake.requests,
        person_labels,
    )


@pytest.fixture(params=["github", "gitbucket"])
def site(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Site]:
    for name in ("GITHUB_TOKEN", "GITHUB_API_URL", "GITBUCKET_URL", "GITBUCKET_USER", "GITBUCKET_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MLOPS_ALLOW_DATA_LOSS", raising=False)
    if request.param == "github":
        with fake_github.serving(
            tokens={TOOL_TOKEN: "preview-bot", ALICE_TOKEN: "alice"}, maintainers={"alice"}, max_per_page=2
        ) as fake:
            fake.add_pull("octo", "app", 7)
            made = _github_site(fake)
            for key, value in made.env.items():
                monkeypatch.setenv(key, value)
            yield made
    else:
        with serving_gitbucket(tmp_path / "repositories", password=TOOL_PASSWORD) as gb:
            made = _gitbucket_site(gb)
            for key, value in made.env.items():
                monkeypatch.setenv(key, value)
            yield made


def fixture(name: str, stack: str = "e2e") -> str:
    return f"{stack}={FIXTURES / f'{name}.json'}"


def saved(tmp_path: Path, name: str, doc: dict[str, Any], stack: str = "e2e") -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return f"{stack}={path}"


def bulky(copies: int) -> dict[str, Any]:
    """The largest real preview with its changed resources repeated under other names: a comment of ~7 KB a copy."""
    doc = document("unretained_disable")
    changed = [s for s in doc["steps"] if s.get("op") != "same"]
    steps = list(doc["steps"])
    for index in range(copies):
        for step in changed:
            clone = copy.deepcopy(step)
            # Each copy in services of its own (mlops:<module>N:...), so the cut drops whole small sections.
            clone["urn"] = re.sub(r"mlops:(\w+):", rf"mlops:\g<1>{index}:", f"{clone['urn']}-copy{index}")
            steps.append(clone)
    return {**doc, "steps": steps}


# 1. The stamp -------------------------------------------------------------------------


def test_the_stamp_follows_the_markers_and_detects_an_edit() -> None:
    rendered = "<!-- mlops-stack-preview:dev -->\n<!-- mlops-stack-preview:e2e -->\n## Pulumi preview\n\nbody\n"
    body = stamped(rendered)
    lines = body.split("\n")
    assert lines[:2] == rendered.split("\n")[:2]
    assert lines[2].startswith("<!-- mlops-stack-preview sha256=") and len(lines[2]) + 1 == STAMP_SIZE
    assert stacks_of(body) == {"dev", "e2e"} == stacks_of(rendered)
    assert intact(body)
    assert intact(body.replace("\n", "\r\n"))  # a forge that stores CRLF has not edited it
    assert not intact(body.replace("body", "b0dy"))
    assert not intact(rendered)  # no stamp: not the tool's as written
    assert stacks_of("Quoted:\n<!-- mlops-stack-preview:e2e -->\n") == frozenset()


# 2. Create, update in place, leave what is not the tool's ---------------------------------


def test_the_first_run_creates_one_comment_and_says_where(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert site.run(fixture("airflow_port")) == 0
    [(ident, author, body)] = site.comments()
    assert author == site.tool_login
    assert body.startswith(MARKER + "\n<!-- mlops-stack-preview sha256=") and intact(body)
    assert "#### e2e / airflow" in body
    err = capsys.readouterr().err
    assert f"{site.kind}: created comment " in err
    assert f"/pull/{site.pr}#" in err and str(ident) in err


def test_a_second_run_updates_the_same_comment_and_a_third_changes_nothing(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert site.run(fixture("airflow_port")) == 0
    [(first, _, _)] = site.comments()
    assert site.run(fixture("registry_image")) == 0
    [(second, author, body)] = site.comments()
    assert (second, author) == (first, site.tool_login)
    assert "mlops-local/registry:2.8" in body and "#### e2e / airflow" not in body and intact(body)
    assert f"{site.kind}: updated comment" in capsys.readouterr().err
    patches = sum(1 for method, _ in site.requests() if method == "PATCH")
    assert site.run(fixture("registry_image")) == 0
    assert f"{site.kind}: unchanged comment" in capsys.readouterr().err
    assert sum(1 for method, _ in site.requests() if method == "PATCH") == patches
    assert [c[0] for c in site.comments()] == [first]


def test_a_comment_edited_by_a_person_is_left_and_a_new_one_posted(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert site.run(fixture("airflow_port")) == 0
    [(ident, _, body)] = site.comments()
    edited = body.replace("## Pulumi preview", "## Pulumi preview\n\nLooks fine to me. -- alice")
    site.person_edits(ident, edited)
    capsys.readouterr()
    assert site.run(fixture("registry_image")) == 0
    comments = site.tool_comments()
    assert comments[0][0] == ident and len(comments) == 2
    assert comments[0][2] == edited  # untouched
    assert "mlops-local/registry:2.8" in comments[1][2] and intact(comments[1][2])
    err = capsys.readouterr().err
    assert "created (left an edited comment) comment" in err and "was edited by someone: left as it is" in err
    # The next push updates the new comment, the edited one still untouched.
    assert site.run(fixture("mysql_image")) == 0
    again = site.tool_comments()
    assert [c[0] for c in again] == [c[0] for c in comments]
    assert again[0][2] == edited and "mysql container" in again[1][2]


def test_another_accounts_comment_carrying_the_marker_is_left_alone(site: Site) -> None:
    quoted = stamped(MARKER + "\n## Pulumi preview\n\nmy own notes\n")  # even with a valid stamp
    theirs = site.person_posts(quoted)
    assert site.run(fixture("airflow_port")) == 0
    assert site.run(fixture("registry_image")) == 0
    comments = site.comments()
    assert (theirs, "alice", quoted) in comments
    assert len(site.tool_comments()) == 1


def test_each_set_of_stacks_has_its_own_comment(site: Site) -> None:
    assert site.run(fixture("airflow_port", "dev"), fixture("no_change", "e2e")) == 0
    assert site.run(fixture("no_change", "e2e")) == 0
    assert site.run(fixture("no_change", "e2e"), fixture("registry_image", "dev")) == 0  # same set, other order
    bodies = [c[2] for c in site.tool_comments()]
    assert [stacks_of(b) for b in bodies] == [{"dev", "e2e"}, {"e2e"}]
    assert "mlops-local/registry:2.8" in bodies[0]


def test_of_several_tool_comments_the_newest_is_updated(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert site.run(fixture("airflow_port")) == 0
    [(older, _, first_body)] = site.comments()
    forge = _forge(site)
    newer = forge.create_comment(site.pr, first_body)  # as a concurrent run would have
    assert site.run(fixture("registry_image")) == 0
    comments = dict((c[0], c[2]) for c in site.tool_comments())
    assert comments[older] == first_body
    assert "mlops-local/registry:2.8" in comments[newer.id]
    assert "1 older comment(s) of the tool for these stacks left as they are" in capsys.readouterr().err


def _forge(site: Site) -> GitHub | GitBucket:
    if site.kind == "github":
        return GitHub(site.repo, site.env["GITHUB_TOKEN"], site.env["GITHUB_API_URL"])
    return GitBucket(site.repo, site.env["GITBUCKET_URL"], site.env["GITBUCKET_USER"], site.env["GITBUCKET_PASSWORD"])


def test_github_pages_are_followed_to_find_the_comment(
    github_fake: fake_github.FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = _github_site(github_fake)
    for key, value in site.env.items():
        monkeypatch.setenv(key, value)
    site.person_posts("first")
    site.person_posts("second")
    assert site.run(fixture("airflow_port")) == 0  # the third comment: page 2 of 2 a page
    for note in ("fourth", "fifth", "sixth"):
        site.person_posts(note)
    github_fake.requests.clear()
    assert site.run(fixture("registry_image")) == 0
    assert len(site.tool_comments()) == 1 and "registry:2.8" in site.tool_comments()[0][2]
    pages = [path for method, path in github_fake.requests if method == "GET" and "/comments" in path]
    assert pages[0] == "/repos/octo/app/issues/7/comments?per_page=100"
    assert "/repositories/100/issues/7/comments?per_page=2&page=3" in pages and len(pages) == 3


def test_a_next_page_on_another_host_is_not_followed(github_fake: fake_github.FakeGitHub) -> None:
    forge = GitHub("octo/app", TOOL_TOKEN, github_fake.base_url)
    github_fake.answer_next(
        "200 OK", b"[]", "application/json", [("Link", '<http://198.51.100.7/steal?page=2>; rel="next"')]
    )
    with pytest.raises(PostError, match=r"the next page is on another host: 198\.51\.100\.7"):
        forge.list_comments(7)


# 3. Tokens: an App token, a refused one ----------------------------------------------


def test_an_actions_token_posts_as_github_actions_bot(
    github_fake: fake_github.FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _github_site(github_fake)
    monkeypatch.setenv("GITHUB_API_URL", github_fake.base_url)
    monkeypatch.setenv("GITHUB_TOKEN", APP_TOKEN)
    assert site.run(fixture("airflow_port")) == 0
    assert site.run(fixture("registry_image")) == 0
    [(_, author, body)] = site.comments()
    assert author == "github-actions[bot]" and "registry:2.8" in body
    assert "taken as github-actions[bot]" in capsys.readouterr().err


def test_an_app_token_of_another_bot_is_told_to_name_it(
    github_fake: fake_github.FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    github_fake.app_tokens[APP_TOKEN] = "mlops-preview[bot]"
    site = _github_site(github_fake)
    monkeypatch.setenv("GITHUB_API_URL", github_fake.base_url)
    monkeypatch.setenv("GITHUB_TOKEN", APP_TOKEN)
    assert site.run(fixture("airflow_port")) == 0
    assert "pass --as-login mlops-preview[bot]" in capsys.readouterr().err
    assert site.run(fixture("registry_image"), extra=("--as-login", "mlops-preview[bot]")) == 0
    [(_, author, body)] = site.comments()
    assert author == "mlops-preview[bot]" and "registry:2.8" in body


def test_a_refused_credential_exits_1_naming_the_call_and_never_the_secret(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "Wr0ngCredential-" + ("GITHUB" if site.kind == "github" else "GITBUCKET")
    monkeypatch.setenv("GITHUB_TOKEN" if site.kind == "github" else "GITBUCKET_PASSWORD", wrong)
    assert site.run(fixture("airflow_port")) == 1
    out, err = capsys.readouterr()
    assert f"preview_comment: posting failed: {site.kind}: GET /" in err
    assert "HTTP 401" in err and "Bad credentials" in err
    for secret in (wrong, TOOL_TOKEN, TOOL_PASSWORD):
        assert secret not in out + err
    assert site.comments() == []


def test_a_credential_echoed_by_the_forge_is_scrubbed(
    github_fake: fake_github.FakeGitHub, capsys: pytest.CaptureFixture[str]
) -> None:
    forge = GitHub("octo/app", TOOL_TOKEN, github_fake.base_url)
    echoed = json.dumps({"message": f"token {TOOL_TOKEN} is suspended"}).encode()
    github_fake.answer_next("403 Forbidden", echoed, "application/json")
    with pytest.raises(PostError) as raised:
        forge.pull_request(7)
    assert "token *** is suspended" in str(raised.value) and TOOL_TOKEN not in str(raised.value)


def test_a_posting_failure_wins_over_data_loss(
    site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN" if site.kind == "github" else "GITBUCKET_PASSWORD", "wrong")
    assert site.run(saved(tmp_path, "lossy", unretained(document("unretained_disable")))) == 1
    err = capsys.readouterr().err
    assert "posting failed" in err and "would lose data" in err


def test_a_missing_pull_request_exits_1(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json-file", fixture("airflow_port"), "--post", site.kind, "--repo", site.repo, "--pr", "99"]) == 1
    assert f"no pull request #99 in {site.repo}" in capsys.readouterr().err


def test_a_missing_credential_fails_before_any_preview(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITBUCKET_PASSWORD", raising=False)
    monkeypatch.setenv("GITBUCKET_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("GITBUCKET_USER", "root")
    ran: list[str] = []

    def preview(*args: Any) -> dict[str, Any]:
        ran.append("preview")
        return {}

    monkeypatch.setattr("preview_comment.__main__.run_preview", preview)
    assert main(["--stack", "e2e", "--post", "gitbucket", "--repo", "root/app", "--pr", "1"]) == 1
    assert "GITBUCKET_PASSWORD" in capsys.readouterr().err and ran == []


def test_a_forge_answering_garbage_is_a_clear_error(
    github_fake: fake_github.FakeGitHub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _github_site(github_fake)
    for key, value in site.env.items():
        monkeypatch.setenv(key, value)
    github_fake.answer_next("200 OK", b"<html>maintenance</html>")
    assert site.run(fixture("airflow_port")) == 1
    assert "github: GET /repos/octo/app/pulls/7 failed: answered no JSON" in capsys.readouterr().err
    github_fake.answer_next("200 OK", b'{"number": 7}', "application/json")  # the pull request
    github_fake.answer_next("200 OK", b'{"login": "preview-bot"}', "application/json")
    github_fake.answer_next("200 OK", b'[{"id": "x"}]', "application/json")
    assert site.run(fixture("airflow_port")) == 1
    assert "answered something that is not a comment" in capsys.readouterr().err


def test_a_gitbucket_failure_on_create_exits_1(
    gitbucket_fake: FakeGitBucket, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _gitbucket_site(gitbucket_fake)
    for key, value in site.env.items():
        monkeypatch.setenv(key, value)
    gitbucket_fake.fail_next(1, 500, "POST")
    assert site.run(fixture("airflow_port")) == 1
    err = capsys.readouterr().err
    assert "gitbucket: POST /api/v3/repos/root/app/issues/1/comments failed: create the comment: HTTP 500" in err
    assert TOOL_PASSWORD not in err


# 4. Size and secrets -------------------------------------------------------------------


def test_the_largest_fixture_with_a_small_limit_is_cut_and_accepted(site: Site) -> None:
    assert site.run(fixture("unretained_disable"), extra=("--limit", "2500")) == 0
    [(_, _, body)] = site.comments()
    assert len(body.encode()) <= 2500 + STAMP_SIZE and intact(body)
    assert "_Cut to stay under 2500 bytes:" in body and "### Data safety" in body


def test_the_default_and_the_largest_limit_fit_the_forge(site: Site, tmp_path: Path) -> None:
    big = saved(tmp_path, "bulky", bulky(40))
    assert site.run(big) == 0
    [(_, _, body)] = site.comments()
    assert 55_000 < len(body.encode()) <= 60_000 + STAMP_SIZE and "_Cut to stay under 60000 bytes:" in body
    largest = max_limit(site.kind)
    assert site.run(big, extra=("--limit", str(largest))) == 0
    [(_, _, body)] = site.comments()
    forge_max = GITHUB_MAX_CHARS if site.kind == "github" else GITBUCKET_MAX_BYTES
    assert forge_max - 3_000 < len(body.encode()) <= forge_max and intact(body)
    with pytest.raises(SystemExit):  # above it: refused before anything runs
        site.run(big, extra=("--limit", str(largest + 1)))
    # A rendered comment of exactly the largest limit, stamped, is taken; one byte more is not sent.
    exact = MARKER + "\n" + "x" * (largest - len(MARKER) - 1)
    assert upsert(_forge(site), site.pr, exact).action == "updated"  # the comment of e2e
    with pytest.raises(PostError, match="over"):
        upsert(_forge(site), site.pr, exact + "y")


def test_the_forges_refuse_a_body_over_their_limit_and_the_tool_does_not_send_it(site: Site) -> None:
    forge = _forge(site)
    over = "x" * (GITHUB_MAX_CHARS + 1) if site.kind == "github" else "é" * (GITBUCKET_MAX_BYTES // 2 + 1)
    if site.kind == "github":
        with pytest.raises(PostError, match=r"HTTP 422; Validation Failed; body is too long \(maximum is 65536"):
            forge.create_comment(site.pr, over)
        forge.create_comment(site.pr, "x" * GITHUB_MAX_CHARS)  # at the limit: taken
    else:
        with pytest.raises(PostError, match="HTTP 500; Internal Server Error"):
            forge.create_comment(site.pr, over)  # 65,536 bytes of UTF-8 in 32,768 characters
        forge.create_comment(site.pr, "x" * GITBUCKET_MAX_BYTES)
    sent = len(site.requests())
    with pytest.raises(PostError, match="over"):
        upsert(forge, site.pr, MARKER + "\n" + over)
    with pytest.raises(ValueError, match="no marker line"):
        upsert(forge, site.pr, "## Pulumi preview\n")  # nothing would identify it next time
    assert len(site.requests()) == sent


def test_no_secret_reaches_the_posted_comment(site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert site.run(saved(tmp_path, "secrets", synthetic_secrets()), fixture("unretained_disable", "dev")) == 0
    out, err = capsys.readouterr()
    [(_, _, body)] = site.comments()
    assert "[secret]" in body
    for secret in (*PLAINTEXTS, TOOL_TOKEN, TOOL_PASSWORD):
        assert secret not in body + out + err


def test_data_loss_still_posts_the_comment_then_exits_2(
    site: Site, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert site.run(saved(tmp_path, "lossy", unretained(document("unretained_disable")))) == 2
    [(_, _, body)] = site.comments()
    assert ":warning: **2 change(s) would lose data.**" in body
    err = capsys.readouterr().err
    assert "created comment" in err and "would lose data" in err


def test_the_override_label_on_the_pull_request_accepts_data_loss_and_is_asked_only_then(
    site: Site, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lossy = saved(tmp_path, "lossy", unretained(document("unretained_disable")))
    override = ("--override-label", "allow-data-loss")
    assert site.run(fixture("no_change"), extra=override) == 0
    assert not any("/labels" in path for _, path in site.requests())  # no data loss: no call
    assert site.run(lossy, extra=override) == 2
    assert "or the label 'allow-data-loss' on the pull request" in capsys.readouterr().err
    site.person_labels("another")
    assert site.run(lossy, extra=override) == 2
    site.person_labels("allow-data-loss")
    assert site.run(lossy, extra=override) == 0
    [(_, _, body)] = site.tool_comments()
    assert "Allowed by the override (a label on the pull request" in body
    assert site.run(lossy) == 2  # without --override-label the label is not looked at


def test_labels_that_are_not_a_list_of_labels_are_a_clear_error(github_fake: fake_github.FakeGitHub) -> None:
    forge = GitHub("octo/app", TOOL_TOKEN, github_fake.base_url)
    assert forge.labels(7) == frozenset()
    github_fake.answer_next("200 OK", b'{"name": "allow-data-loss"}', "application/json")
    with pytest.raises(
        PostError, match=r"GET /repos/octo/app/issues/7/labels failed: answered something that is not a list of labels"
    ):
        forge.labels(7)


def test_gitbucket_answers_the_patch_with_the_callers_account(gitbucket_fake: FakeGitBucket) -> None:
    """ApiIssueCommentControllerBase.scala:62: the PATCH answer's user is the caller, not the author."""
    site = _gitbucket_site(gitbucket_fake)
    ident = site.person_posts("alice's note")
    api = f"{gitbucket_fake.base_url}/api/v3/repos/root/app/issues"
    root = _basic(gitbucket_fake.user, gitbucket_fake.password)
    answer = requests.patch(f"{api}/comments/{ident}", json={"body": "fixed by root"}, headers=root, timeout=10)
    assert answer.status_code == 200 and answer.json()["user"]["login"] == "root"
    assert site.comments() == [(ident, "alice", "fixed by root")]
    bob = {"login": "bob", "password": "bob-pw", "email": "bob@localhost"}
    requests.post(f"{gitbucket_fake.base_url}/api/v3/admin/users", json=bob, headers=root, timeout=10)
    requests.put(f"{api[:-7]}/collaborators/bob", json={"permission": "pull"}, headers=root, timeout=10)
    refused = requests.patch(f"{api}/comments/{ident}", json={"body": "b"}, headers=_basic("bob", "bob-pw"), timeout=10)
    assert refused.status_code == 401  # a reader may comment, not edit another's comment
    assert requests.get(f"{api[:-7]}/pulls/5", headers=root, timeout=10).content == b""  # JsonFormat(None)
    assert requests.get(f"{api}/5/comments", headers=root, timeout=10).json() == []
    missing = requests.post(f"{api}/5/comments", json={"body": "x"}, headers=root, timeout=10)
    assert missing.status_code == 404
