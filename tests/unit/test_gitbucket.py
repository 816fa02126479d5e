"""GitBucket behaviours read in GitBucket 4.46.1's source (issue 14), held by the FAKE
GitBucket (offline/fakes/fake_gitbucket.py, its docstring cites the source) and by the
client and component that must live with them. The fake runs in this process (WSGI) or
on a loopback port; nothing else is needed."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components import config
from components.gitbucket import GitBucket, GitBucketArgs
from components.mysql import MySQL, MySQLArgs
from components.platform import SERVICES
from mlops_clients import gitbucket
from mlops_clients.common import InputError, ServiceError
from offline.fakes.fake_gitbucket import OPEN_PREFIXES, Account, FakeGitBucket, serving
from tests.unit.conftest import BASE_CONFIG, Evaluation, mocked, plain, run

HOOK_URL = "http://jenkins:8080/git/notifyCommit?url=http://gitbucket:8080/git/root/app.git"


def call(fake: FakeGitBucket, method: str, path: str, body: Any = None, auth: bytes | None = None) -> tuple[str, bytes]:
    """One request to the fake, in this process: its status line and body."""
    raw = b"" if body is None else json.dumps(body).encode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_LENGTH": str(len(raw)),
        "wsgi.input": io.BytesIO(raw),
    }
    if auth is not None:
        environ["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(auth).decode()
    answered: list[str] = []
    chunks = fake(environ, lambda status, headers: answered.append(status))
    return answered[0], b"".join(chunks)


def root_auth(fake: FakeGitBucket) -> bytes:
    return f"{fake.user}:{fake.password}".encode()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeGitBucket]:
    with serving(tmp_path / "repositories") as server:
        yield server


@pytest.fixture
def api(fake: FakeGitBucket) -> gitbucket.GitBucketAPI:
    return gitbucket.GitBucketAPI(fake.base_url, fake.user, fake.password)


# 1. The health check -------------------------------------------------------------------


def health_command() -> str:
    evaluation = Evaluation()
    mocked(evaluation, "unit")
    stack = config.load("mlops-stack", "unit", BASE_CONFIG, SERVICES, frozenset())

    def build() -> dict[str, Any]:
        server = MySQL("db", MySQLArgs(stack, stack.services["mysql"], "net"))
        return dict(
            GitBucket(
                "git", GitBucketArgs(stack, stack.services["gitbucket"], "net", server, server.database("git"))
            ).outputs()
        )

    run(evaluation, build)
    tests = plain(evaluation.named("git-server").inputs["healthcheck"]["tests"])
    assert tests[0] == "CMD-SHELL"
    return str(tests[1])


def test_the_health_check_probes_a_page_open_whatever_the_anonymous_access(tmp_path: Path) -> None:
    """GitBucket answers 401 to anonymous requests but a few paths once an operator turns
    anonymous access off (PreProcessController.scala:32-45): /api/v3 is not one of them."""
    probe = re.fullmatch(r"curl -fsS http://localhost:8080(/\S*) >/dev/null", health_command())
    assert probe is not None
    path = probe.group(1)
    assert path.startswith(OPEN_PREFIXES)
    for anonymous in (True, False):
        status, _ = call(FakeGitBucket(root=tmp_path, anonymous_access=anonymous), "GET", path)
        assert status.startswith("200"), (anonymous, status)  # curl -f: no >= 400; no redirect followed


def test_the_fake_refuses_anonymous_api_calls_when_anonymous_access_is_off(tmp_path: Path) -> None:
    assert call(FakeGitBucket(root=tmp_path), "GET", "/api/v3")[0].startswith("200")
    closed = FakeGitBucket(root=tmp_path, anonymous_access=False)
    assert call(closed, "GET", "/api/v3")[0].startswith("401")
    assert call(closed, "GET", "/api/v3", auth=root_auth(closed))[0].startswith("200")


# 2. Non-ASCII passwords ---------------------------------------------------------------


def test_the_fake_decodes_basic_credentials_as_utf8(tmp_path: Path) -> None:
    fake = FakeGitBucket(root=tmp_path, password="pässwort-1")
    assert call(fake, "GET", "/api/v3/user", auth="root:pässwort-1".encode())[0].startswith("200")
    assert call(fake, "GET", "/api/v3/user", auth="root:pässwort-1".encode("latin-1"))[0].startswith("401")


def test_the_client_logs_in_with_a_non_ascii_password(fake: FakeGitBucket) -> None:
    """An account whose password was set in GitBucket itself (its web form takes any)."""
    fake.store.create(Account("ana", "ana@localhost"), "Grüße-für-€")
    assert gitbucket.GitBucketAPI(fake.base_url, "ana", "Grüße-für-€").whoami()["login"] == "ana"


@pytest.mark.parametrize("password", ["pässwörter-und-mehr", "euro-€-sign-pass", "with space inside"])
def test_the_client_sets_no_password_the_stack_config_would_refuse(
    api: gitbucket.GitBucketAPI, fake: FakeGitBucket, password: str
) -> None:
    with pytest.raises(InputError, match="printable ASCII characters only"):
        gitbucket.ensure_account(api, "mlops-automation", password, write_password=lambda u, p: {"changed": True})
    assert fake.requests == []


# 3. A repository folder left on the data volume -----------------------------------------


def test_a_folder_left_from_an_earlier_database_is_named(api: gitbucket.GitBucketAPI, fake: FakeGitBucket) -> None:
    leftover = fake.repo_dir("root", "app")
    subprocess.run(["git", "init", "--quiet", "--bare", str(leftover)], check=True)
    with pytest.raises(gitbucket.LeftoverRepositoryFolder) as raised:
        api.ensure_repo("app", "the app")
    message = str(raised.value)
    assert message.startswith("gitbucket: POST /user/repos failed: HTTP 500")
    assert "repositories/root/app.git probably exists on GitBucket's data volume" in message
    assert "earlier database" in message and "move that folder" in message
    # The fake as GitBucket: the repository is in no database, so it is not there.
    assert call(fake, "GET", "/api/v3/repos/root/app", auth=root_auth(fake))[0].startswith("404")
    assert call(fake, "POST", "/api/v3/user/repos", {"name": "app"}, root_auth(fake))[0].startswith("500")


def test_another_500_on_a_creation_is_not_taken_for_a_leftover_folder(
    api: gitbucket.GitBucketAPI, fake: FakeGitBucket
) -> None:
    api.ensure_repo("raced", "")
    fake.fail_next(1, 404, method="GET")  # missed by the look-up,
    fake.fail_next(1, 500, method="POST")  # and the creation fails: yet it exists
    with pytest.raises(ServiceError) as raised:
        api.ensure_repo("raced", "")
    assert not isinstance(raised.value, gitbucket.LeftoverRepositoryFolder)


# 4. Webhooks with no event ------------------------------------------------------------


def hook_body(url: str, events: list[str], content_type: str = "json") -> dict[str, Any]:
    return {"name": "web", "events": events, "config": {"url": url, "content_type": content_type}}


def test_the_fake_hides_a_webhook_with_no_event(api: gitbucket.GitBucketAPI, fake: FakeGitBucket) -> None:
    api.ensure_repo("app", "")
    auth, hooks = root_auth(fake), "/api/v3/repos/root/app/hooks"
    assert call(fake, "POST", hooks, hook_body(HOOK_URL, []), auth) == ("200 OK", b"")
    assert json.loads(call(fake, "GET", hooks, auth=auth)[1]) == []
    hook_id = fake.hooks["root/app"][0]["id"]
    assert call(fake, "GET", f"{hooks}/{hook_id}", auth=auth)[0].startswith("404")
    assert call(fake, "DELETE", f"{hooks}/{hook_id}", auth=auth)[0].startswith("404")
    assert call(fake, "POST", hooks, hook_body(HOOK_URL, ["push"]), auth)[0].startswith("500")  # its URL is taken


def test_the_client_creates_no_webhook_without_an_event(api: gitbucket.GitBucketAPI, fake: FakeGitBucket) -> None:
    api.ensure_repo("app", "")
    fake.requests.clear()
    with pytest.raises(InputError, match="at least one event"):
        api.ensure_webhook("root", "app", HOOK_URL, events=())
    assert fake.requests == []


def test_a_hidden_webhook_to_the_url_is_named_with_its_fix(api: gitbucket.GitBucketAPI, fake: FakeGitBucket) -> None:
    api.ensure_repo("app", "")
    call(fake, "POST", "/api/v3/repos/root/app/hooks", hook_body(HOOK_URL, []), root_auth(fake))
    [hidden] = fake.hooks["root/app"]
    with pytest.raises(ServiceError, match=r"probably exists with no event .*/root/app/settings/hooks/delete\?url="):
        api.ensure_webhook("root", "app", HOOK_URL)
    assert fake.hooks["root/app"] == [hidden]  # nothing changed


def test_a_webhook_edited_to_another_content_type_is_put_back(api: gitbucket.GitBucketAPI, fake: FakeGitBucket) -> None:
    api.ensure_repo("app", "")
    created = api.ensure_webhook("root", "app", HOOK_URL)
    fake.hooks["root/app"][0]["config"]["content_type"] = "form"  # edited by hand in GitBucket
    assert api.ensure_webhook("root", "app", HOOK_URL) == {"hook": created["hook"], "changed": True}
    assert api.webhooks("root", "app")[0]["config"]["content_type"] == "json"
