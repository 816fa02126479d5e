"""`python -m preview_comment --post` as a process, against the FAKE GitHub and the FAKE GitBucket
(offline/fakes/fake_github.py, fake_gitbucket.py) served on 127.0.0.1: credentials from the
environment only, what was done on stderr, the exit codes, no credential in any output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from offline.fakes import fake_github
from offline.fakes.fake_gitbucket import serving as serving_gitbucket
from preview_comment.post import intact
from tests.unit.test_preview_post import _basic, _commit

pytestmark = pytest.mark.integration

PROJECT_DIR = Path(__file__).resolve().parents[2]
FIXTURES = PROJECT_DIR / "tests" / "unit" / "fixtures" / "preview"
TOKEN = "ghp_Integrati0nT0kenNeverPrinted"
PASSWORD = "Grüße-r00t-pässwörd"  # non-ASCII: Basic credentials must go as UTF-8


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITBUCKET_", "MLOPS_"))}
    return subprocess.run(
        [sys.executable, "-m", "preview_comment", *args],
        cwd=PROJECT_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_github_create_update_and_a_refused_token() -> None:
    with fake_github.serving(tokens={TOKEN: "preview-bot"}, max_per_page=1) as fake:
        fake.add_pull("octo", "app", 3)
        env = {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": fake.base_url}
        post = ("--post", "github", "--repo", "octo/app", "--pr", "3")
        first = run(env, "--json-file", f"e2e={FIXTURES / 'airflow_port.json'}", *post)
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("<!-- mlops-stack-preview:e2e -->")
        assert "github: created comment http://127.0.0.1:" in first.stderr
        second = run(env, "--json-file", f"e2e={FIXTURES / 'registry_image.json'}", *post)
        assert second.returncode == 0 and "github: updated comment" in second.stderr
        [comment] = fake.comments_of("octo", "app", 3)
        assert comment["login"] == "preview-bot" and intact(comment["body"]) and "registry:2.8" in comment["body"]
        refused = run({**env, "GITHUB_TOKEN": "ghp_Wr0ng"}, "--json-file", f"e2e={FIXTURES / 'no_change.json'}", *post)
        assert refused.returncode == 1
        assert "posting failed: github: GET /repos/octo/app/pulls/3 failed" in refused.stderr
        assert "HTTP 401; Bad credentials" in refused.stderr
        for secret in ("ghp_Wr0ng", TOKEN):
            assert secret not in refused.stdout + refused.stderr + first.stderr + second.stderr


def test_gitbucket_create_update_with_a_non_ascii_password(tmp_path: Path) -> None:
    with serving_gitbucket(tmp_path / "repositories", password=PASSWORD) as fake:
        api, root = f"{fake.base_url}/api/v3", _basic(fake.user, PASSWORD)
        assert requests.post(f"{api}/user/repos", json={"name": "app"}, headers=root, timeout=10).ok
        base = _commit(fake.repo_dir("root", "app"), "main", "one")
        _commit(fake.repo_dir("root", "app"), "feature", "two", parent=base)
        pull = {"title": "t", "head": "feature", "base": "main"}
        assert requests.post(f"{api}/repos/root/app/pulls", json=pull, headers=root, timeout=10).json()["number"] == 1
        env = {"GITBUCKET_URL": fake.base_url, "GITBUCKET_USER": "root", "GITBUCKET_PASSWORD": PASSWORD}
        post = ("--post", "gitbucket", "--repo", "root/app", "--pr", "1")
        first = run(env, "--json-file", f"e2e={FIXTURES / 'mysql_image.json'}", *post)
        assert first.returncode == 0, first.stderr
        assert f"gitbucket: created comment {fake.base_url}/root/app/pull/1#comment-1" in first.stderr
        second = run(env, "--json-file", f"e2e={FIXTURES / 'no_change.json'}", *post)
        assert second.returncode == 0 and "gitbucket: updated comment" in second.stderr
        [comment] = fake.issue_comments.values()
        assert "no changes (46 unchanged)" in comment["body"] and intact(comment["body"])
        wrong = run({**env, "GITBUCKET_PASSWORD": "nope"}, "--json-file", f"e2e={FIXTURES / 'no_change.json'}", *post)
        assert wrong.returncode == 1 and "HTTP 401; Bad credentials" in wrong.stderr
        assert PASSWORD not in first.stderr + second.stderr + wrong.stderr and "nope" not in wrong.stderr
