"""FAKE GitBucket, for tests only: GitBucket itself cannot run on this machine
(its WAR is only published where this machine cannot reach).

Shaped on GitBucket 4.46's own source (shared/reference/integration-facts.md §1):
REST v3 under /api/v3 with Basic auth (401 "Bad credentials"), repository
create/get with GitBucket's odd answers (an existing name: 200 with a message;
an invalid body: 404), webhooks with the unique (owner, repo, URL) key that
makes a duplicate a 500, and real git over smart HTTP under /git/ served by
git's own `git http-backend`. Failures can be injected (`fail_next`).

Accounts and permissions as GitBucket 4.46.1 has them (file:line of its source):
- site admins and plain users; `POST /api/v3/admin/users` creates one, admins only
  (controller/api/ApiUserControllerBase.scala:68, body api/CreateAUser.scala: login,
  password, email required), answering the ApiUser (api/ApiUser.scala:7); an existing
  login or mail address is a key violation (ACCOUNT's primary key and IDX_ACCOUNT_1,
  update/gitbucket-core_4.0.xml:22-23): 500. `GET /api/v3/users/:name`, `GET /api/v3/user`.
- collaborators (ApiRepositoryCollaboratorControllerBase.scala): `PUT .../collaborators/:user`
  for the repo's owner or an admin (ownerOnly, :58), body {"permission": "admin"|"push"|"pull"}
  stored as role ADMIN|DEVELOPER|GUEST (api/AddACollaborator.scala:3-8; another value: no
  body, 404), answering 204; it inserts a row, so adding one twice is a key violation (500,
  RepositoryService.scala:598), as is an unknown user (IDX_COLLABORATOR_FK1);
  `GET .../collaborators/:user/permission` answers {"permission": <role>, "user": ...} or 404
  (:41); `DELETE` answers 204 (:72).
- who may do what (util/Authenticator.scala, RepositoryService.scala:655-718): an admin
  everything; a repository's owner or an ADMIN collaborator its settings (collaborators);
  owner, ADMIN or DEVELOPER write (push, webhooks); any collaborator reads (every repository
  here is private). A route refused answers 401 {"message": "Requires authentication"}
  (ControllerBase.scala:162-167), a repository that does not exist 404.
- git over HTTP (servlet/GitAuthenticationFilter.scala:95-146): a missing repository 404; a
  push needs write, a fetch read, else 401 with a Basic challenge.
- Basic credentials are decoded as UTF-8 (util/AuthUtil.scala:17 decodes with the JVM's default
  charset, UTF-8 in the image: eclipse-temurin sets LANG=en_US.UTF-8), so a client that encodes
  them as latin-1 (python requests does) fails to log in with a non-ASCII password: 401.
- anonymous access (`anonymous_access`, GITBUCKET_ALLOW_ANONYMOUS_ACCESS when run as a program):
  when off, an anonymous GET of anything but /signin, /register, /assets, /plugin-assets,
  /user.css or .../info/refs answers 401 (controller/PreProcessController.scala:32-45), `GET
  /api/v3` included; `GET /signin` answers the sign-in page, 200, whatever the setting
  (IndexController.scala:99-109): the container's health check probes it.
- repositories are rows of GitBucket's database (REPOSITORY) and folders on its data volume,
  apart: the API and git look a repository up in the database; creating one whose folder
  already exists (a volume kept, its database new) fails in JGit ("Repository already
  exists", Repository.create), the row is rolled back and the API answers 500
  (RepositoryCreationService.scala:86-195, then ApiRepositoryControllerBase.scala:94-97
  reads the repository that is not there; ControllerBase.scala:189-198).
- webhooks (service/WebHookService.scala:48-63, 81-113): listed, read by id and by URL with an
  inner join on their events, so a hook with no event exists (its URL still taken: a second
  one is a key violation, 500) but is never listed, read (404) or deleted by id (404); creating
  one with no event answers 200 with an empty body (ApiRepositoryWebhookControllerBase.scala:
  44-47). PATCH .../hooks/:id updates the hook of that id, then writes the events under the
  URL of its body (WebHookService.scala:153-170): that needs a hook with that URL (the events'
  foreign key, else 500), whatever the id.
- pull requests and their comments (controller/api/ApiPullRequestControllerBase.scala,
  ApiIssueCommentControllerBase.scala): `POST .../pulls` {title, head, base, body?} for any
  reader (readableUsersOnly, :77), head "branch" or "owner:branch"; base and head are resolved
  in the repositories' git (PullRequestService.scala:611-647: base a branch, the PR's base sha
  the merge base) and either missing answers 404; the number is the repository's next issue
  number (IssuesService.insertIssue, :483), its head kept as refs/pull/<n>/head in the base
  repository (JGitUtil.scala:1333-1354; later pushes to the head branch do not move it here),
  answered 200 with the ApiPullRequest. `GET
  .../pulls/:n` answers 200 with it, or 200 with an empty body when n is no pull request
  (JsonFormat(None): json4s writes nothing). Issue comments: `GET .../issues/:n/comments`
  (referrersOnly, :16) lists every comment of issue n, no pagination, in id order (the query
  has no ORDER BY; [] for an issue that does not exist); `GET .../issues/comments/:id`;
  `POST .../issues/:n/comments` {body} (readableUsersOnly, :113; no such issue, or an empty
  or missing body: 404) answers 200 with the ApiComment (api/ApiComment.scala: id, user,
  body, created_at, updated_at, html_url .../pull/:n#comment-:id); `PATCH
  .../issues/comments/:id` {body} by the comment's author or a developer (owner, admin, ADMIN
  or DEVELOPER collaborator; else 401, :134-135) answers 200 with the comment, its `user`
  being the caller's account (:62), not the author's; without a body it changes nothing. The
  body lands in ISSUE_COMMENT.CONTENT, a TEXT column (update/gitbucket-core_4.0.xml:220):
  over 65,535 bytes of UTF-8 MySQL in strict mode (8.4's default) refuses it ("Data too
  long"), and GitBucket answers 500 (ControllerBase.scala:189-198). An issue's labels
  (ApiIssueLabelControllerBase.scala): `GET .../issues/:n/labels` lists ApiLabel {name, color,
  url}; `POST` {labels: [names]} by a writer adds them, creating missing repository labels.
  Issues themselves (and
  the "#n" references a comment creates) are not modelled.
Not modelled: groups, suspended accounts, tokens.

Run as a program (`python fake_gitbucket.py`, the image
offline/images/gitbucket-fake) it keeps accounts, collaborators and the repository list
where GitBucket does, in the ACCOUNT, COLLABORATOR and REPOSITORY tables of the database
named by GITBUCKET_DB_URL/USER/PASSWORD, with root seeded as SHA-1("root"), and checks
passwords the way GitBucket does: the e2e stack can then run the real stack's GitBucket
wiring against it. Run as a module in the tests, these are in memory (`MemoryAccounts`)
unless a `DatabaseAccounts` is given. Webhooks, pull requests and their comments are in
memory either way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

_REPO_NAME = re.compile(r"^[a-zA-Z0-9\-+_.]+$")
_EVENTS = {"push", "pull_request", "create", "delete", "issues", "issue_comment", "gollum", "fork"}
Response = tuple[str, list[tuple[str, str]], bytes]
# AddACollaborator.scala: the API's permission names and the roles GitBucket stores.
ROLES = {"admin": "ADMIN", "push": "DEVELOPER", "pull": "GUEST"}
WRITE_ROLES = frozenset({"ADMIN", "DEVELOPER"})
_NOT_FOUND = ("404 Not Found", {"message": "Not Found"})
# PreProcessController.scala:34-39: what an anonymous GET may reach with anonymous access off.
OPEN_PREFIXES = ("/assets", "/signin", "/register", "/plugin-assets")
SIGN_IN_PAGE = b"<!DOCTYPE html><html><body><form method='post' action='/signin'>Sign in</form></body></html>"
_REFUSED = ("401 Unauthorized", {"message": "Requires authentication"})
_SERVER_ERROR = ("500 Internal Server Error", {"message": "Internal Server Error"})
# ISSUE_COMMENT.CONTENT is a TEXT column (update/gitbucket-core_4.0.xml:220): 65,535 bytes on MySQL.
COMMENT_MAX_BYTES = 65_535


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Conflict(Exception):
    """A database key violation: GitBucket lets it become a 500."""


@dataclass(frozen=True)
class Account:
    name: str
    email: str
    admin: bool = False
    full_name: str = ""
    created: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def api_json(self, base_url: str) -> dict[str, Any]:
        """ApiUser (api/ApiUser.scala), with its dummy id."""
        return {
            "login": self.name,
            "email": self.email,
            "type": "User",
            "site_admin": self.admin,
            "created_at": self.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "id": 0,
            "url": f"{base_url}/api/v3/users/{self.name}",
            "html_url": f"{base_url}/{self.name}",
            "avatar_url": f"{base_url}/{self.name}/_avatar",
        }


class Accounts(Protocol):
    """Where the fake keeps what GitBucket keeps in its database: accounts, collaborators and
    which repositories exist (ACCOUNT, COLLABORATOR, REPOSITORY); their folders are apart."""

    def authenticate(self, user: str, password: str) -> Account | None: ...
    def get(self, user: str) -> Account | None: ...
    def create(self, account: Account, password: str) -> None: ...
    def collaborators(self, owner: str, repo: str) -> dict[str, str]: ...
    def add_collaborator(self, owner: str, repo: str, user: str, role: str) -> None: ...
    def remove_collaborator(self, owner: str, repo: str, user: str) -> None: ...
    def has_repository(self, owner: str, repo: str) -> bool: ...
    def add_repository(self, owner: str, repo: str) -> None: ...


class MemoryAccounts:
    """Accounts in memory, for the tests: root (a site admin) with the given password."""

    def __init__(self, root_user: str, root_password: str) -> None:
        self._accounts: dict[str, tuple[Account, str]] = {
            root_user: (Account(root_user, f"{root_user}@localhost", admin=True, full_name=root_user), root_password)
        }
        self._collaborators: dict[tuple[str, str], dict[str, str]] = {}
        self._repositories: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def authenticate(self, user: str, password: str) -> Account | None:
        with self._lock:
            found = self._accounts.get(user)
        if found is None or not hmac.compare_digest(found[1].encode(), password.encode()):
            return None
        return found[0]

    def get(self, user: str) -> Account | None:
        with self._lock:
            found = self._accounts.get(user)
        return None if found is None else found[0]

    def create(self, account: Account, password: str) -> None:
        with self._lock:
            if account.name in self._accounts or any(a.email == account.email for a, _ in self._accounts.values()):
                raise Conflict(f"duplicate account {account.name} or mail address {account.email}")
            self._accounts[account.name] = (account, password)

    def collaborators(self, owner: str, repo: str) -> dict[str, str]:
        with self._lock:
            return dict(self._collaborators.get((owner, repo), {}))

    def add_collaborator(self, owner: str, repo: str, user: str, role: str) -> None:
        with self._lock:
            rows = self._collaborators.setdefault((owner, repo), {})
            if user in rows or user not in self._accounts:
                raise Conflict(f"collaborator {user} of {owner}/{repo}: duplicate or unknown account")
            rows[user] = role

    def remove_collaborator(self, owner: str, repo: str, user: str) -> None:
        with self._lock:
            self._collaborators.get((owner, repo), {}).pop(user, None)

    def has_repository(self, owner: str, repo: str) -> bool:
        with self._lock:
            return (owner, repo) in self._repositories

    def add_repository(self, owner: str, repo: str) -> None:
        with self._lock:
            if (owner, repo) in self._repositories:
                raise Conflict(f"duplicate repository {owner}/{repo}")
            self._repositories.add((owner, repo))


@dataclass
class FakeGitBucket:
    root: Path
    user: str = "root"
    password: str = "fake-root-password"
    accounts: Accounts | None = None  # None: MemoryAccounts with root = user/password above
    base_url: str = ""
    anonymous_access: bool = True  # GitBucket's default (SystemSettingsService.scala:121)
    # Repositories created public (without "private": true); kept in memory only.
    public_repos: set[tuple[str, str]] = field(default_factory=set)
    hooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _failures: list[tuple[int, str | None]] = field(default_factory=list)
    _next_hook_id: int = 1
    # Pull requests by (owner, repo, number); issue comments by id; the last issue number per repo.
    pulls: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)
    issue_comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    _issue_numbers: dict[tuple[str, str], int] = field(default_factory=dict)
    _next_comment_id: int = 1

    def __post_init__(self) -> None:
        if self.accounts is None:
            self.accounts = MemoryAccounts(self.user, self.password)

    @property
    def store(self) -> Accounts:
        assert self.accounts is not None  # set in __post_init__
        return self.accounts

    def fail_next(self, count: int, status: int = 500, method: str | None = None) -> None:
        """Answer the next `count` requests (of `method`, if given) with `status`."""
        self._failures.extend([(status, method)] * count)

    def repo_dir(self, owner: str, name: str) -> Path:
        """The repository's folder on the data volume (Directory.getRepositoryDir)."""
        return self.root / owner / f"{name}.git"

    def _exists(self, owner: str, name: str) -> bool:
        """GitBucket looks a repository up in its database, not on its volume."""
        return self.store.has_repository(owner, name)

    # WSGI entry point
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        self.requests.append((method, path))
        status, headers, body = self._dispatch(environ, method, path)
        start_response(status, headers)
        return [body]

    def _dispatch(self, environ: dict[str, Any], method: str, path: str) -> Response:
        if self._failures and self._failures[0][1] in (None, method):
            code, _ = self._failures.pop(0)
            return _json(f"{code} Injected", {"message": "injected failure"})
        account = self._login(environ)
        if method == "GET" and account is None and not self.anonymous_access and not _open(path):
            return "401 Unauthorized", [], b""  # PreProcessController: Unauthorized() to a non-browser
        if method == "GET" and path == "/signin":
            return "200 OK", [("Content-Type", "text/html; charset=UTF-8")], SIGN_IN_PAGE
        if path == "/api/v3":
            return _json("200 OK", {"rate_limit_url": f"{self.base_url}/api/v3/rate_limit"})
        if path.startswith("/git/"):
            return self._git(environ, path[len("/git") :], account)
        if account is None:
            return _json("401 Unauthorized", {"message": "Bad credentials"})
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        try:
            return self._api(method, path, body, account)
        except Conflict:
            return _json(*_SERVER_ERROR)

    def _login(self, environ: dict[str, Any]) -> Account | None:
        """The account of a Basic header whose password is right, else None."""
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Basic "):
            return None
        try:
            # AuthUtil.decodeAuthHeader: `new String(bytes)`, the JVM's charset (UTF-8); bytes
            # that are no UTF-8 (latin-1 of a non-ASCII password) become U+FFFD and never match.
            user, _, password = base64.b64decode(header[6:]).decode("utf-8", "replace").partition(":")
        except ValueError:
            return None
        return self.store.authenticate(user, password)

    # RepositoryService.isReadable / isWritable / hasOwnerRole (groups not modelled).
    def _role(self, owner: str, repo: str, account: Account) -> str | None:
        return self.store.collaborators(owner, repo).get(account.name)

    def _readable(self, owner: str, repo: str, account: Account) -> bool:
        if (owner, repo) in self.public_repos:  # isReadable: a public repository, any account
            return True
        return account.admin or account.name == owner or self._role(owner, repo, account) is not None

    def _writable(self, owner: str, repo: str, account: Account) -> bool:
        return account.admin or account.name == owner or self._role(owner, repo, account) in WRITE_ROLES

    def _manages(self, owner: str, repo: str, account: Account) -> bool:
        return account.admin or account.name == owner or self._role(owner, repo, account) == "ADMIN"

    def _repo_json(self, owner: str, name: str) -> dict[str, Any]:
        return {
            "id": 0,  # 4.46.1 answers a dummy id
            "name": name,
            "full_name": f"{owner}/{name}",
            "private": (owner, name) not in self.public_repos,
            "default_branch": "main",
            "owner": {"login": owner},
            "clone_url": f"{self.base_url}/git/{owner}/{name}.git",
            "html_url": f"{self.base_url}/{owner}/{name}",
        }

    def _api(self, method: str, path: str, raw: bytes, account: Account) -> Response:
        parts = path.removeprefix("/api/v3").strip("/").split("/")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return _json(*_NOT_FOUND)
        if not isinstance(body, dict):
            return _json(*_NOT_FOUND)
        if parts == ["admin", "users"] and method == "POST":
            return self._create_user(body, account)
        if parts == ["user"] and method == "GET":
            return _json("200 OK", account.api_json(self.base_url))
        if len(parts) == 2 and parts[0] == "users" and method == "GET":
            found = self.store.get(parts[1])
            return _json("200 OK", found.api_json(self.base_url)) if found else _json(*_NOT_FOUND)
        if method == "POST" and parts == ["user", "repos"]:
            name = body.get("name", "")
            if not isinstance(name, str) or not _REPO_NAME.match(name) or len(name) > 100 or name[0] in "_-":
                return _json(*_NOT_FOUND)
            if self._exists(account.name, name):
                return _json(
                    "200 OK",
                    {
                        "message": "A repository with this name already exists on this account",
                        "documentation_url": "https://developer.github.com/v3/repos/#create",
                    },
                )
            target = self.repo_dir(account.name, name)
            if (target / "config").exists():
                # JGit's Repository.create refuses an existing repository; the row is rolled back.
                return _json(*_SERVER_ERROR)
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(target)], check=True)
            subprocess.run(["git", "-C", str(target), "config", "http.receivepack", "true"], check=True)
            self.store.add_repository(account.name, name)
            if body.get("private") is not True:  # CreateARepository.scala:10: `private` defaults to false
                self.public_repos.add((account.name, name))
            return _json("200 OK", self._repo_json(account.name, name))
        if len(parts) < 3 or parts[0] != "repos":
            return _json(*_NOT_FOUND)
        owner, name, rest = parts[1], parts[2], parts[3:]
        if not self._exists(owner, name):
            return _json(*_NOT_FOUND)
        if not rest and method == "GET":
            if not self._readable(owner, name, account):
                return _json(*_REFUSED)
            return _json("200 OK", self._repo_json(owner, name))
        if rest and rest[0] == "hooks":
            allowed = self._readable if method == "GET" else self._writable
            if not allowed(owner, name, account):
                return _json(*_REFUSED)
            return self._hooks(method, f"{owner}/{name}", rest[1:], body)
        if rest and rest[0] == "collaborators":
            return self._collaborators(method, owner, name, rest[1:], body, account)
        if rest and rest[0] in ("pulls", "issues"):
            if not self._readable(owner, name, account):
                return _json(*_REFUSED)  # referrersOnly / readableUsersOnly on a private repository
            if rest[0] == "pulls":
                return self._pulls(method, owner, name, rest[1:], body, account)
            return self._issue_comments(method, owner, name, rest[1:], body, account)
        return _json(*_NOT_FOUND)

    def _git_out(self, owner: str, repo: str, *args: str) -> str | None:
        done = subprocess.run(
            ["git", "-C", str(self.repo_dir(owner, repo)), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None

    def _pulls(
        self, method: str, owner: str, name: str, rest: list[str], body: dict[str, Any], account: Account
    ) -> Response:
        """ApiPullRequestControllerBase: get one (:64) and create (:77); the rest is not modelled."""
        if method == "GET" and len(rest) == 1:
            if not rest[0].isdigit():
                return _json(*_NOT_FOUND)
            pull = self.pulls.get((owner, name, int(rest[0])))
            if pull is None:
                return "200 OK", [("Content-Type", "application/json")], b""  # JsonFormat(None)
            return _json("200 OK", self._pull_json(pull))
        if method != "POST" or rest:
            return _json(*_NOT_FOUND)
        title, head, base = body.get("title"), body.get("head"), body.get("base")
        text = body.get("body")
        if not all(isinstance(v, str) for v in (title, head, base)) or not isinstance(text, str | None):
            return _json(*_NOT_FOUND)  # CreateAPullRequest not extracted
        assert isinstance(title, str) and isinstance(head, str) and isinstance(base, str)
        head_owner, head_branch = head.split(":")[:2] if ":" in head else (owner, head)  # parseCompareIdentifier
        if not self._exists(head_owner, name):
            return _json(*_NOT_FOUND)
        head_sha = self._git_out(head_owner, name, "rev-parse", "--verify", "--quiet", f"{head_branch}^{{commit}}")
        base_tip = self._git_out(owner, name, "rev-parse", "--verify", "--quiet", f"refs/heads/{base}")
        if head_sha is None or base_tip is None:
            return _json(*_NOT_FOUND)  # getPullRequestCommitFromTo gives no commit: the route yields nothing
        base_sha = base_tip
        if head_owner == owner:  # JGitUtil.getForkedCommitId: the merge base (forks: the base's tip here)
            base_sha = self._git_out(owner, name, "merge-base", base_tip, head_sha) or base_tip
        number = self._issue_numbers.get((owner, name), 0) + 1
        self._issue_numbers[(owner, name)] = number
        # JGitUtil.updatePullRequest / MergeService.fetchAsPullRequest: the head, from the base
        # repository or a fork, is kept in the base repository as refs/pull/<n>/head (what CI
        # builds). GitBucket moves it on every push to the head branch: not modelled here.
        if head_owner != owner:
            fork = str(self.repo_dir(head_owner, name))
            self._git_out(owner, name, "fetch", "--quiet", fork, f"{head_sha}:refs/pull/{number}/head")
        else:
            self._git_out(owner, name, "update-ref", f"refs/pull/{number}/head", head_sha)
        if self._git_out(owner, name, "rev-parse", "--verify", "--quiet", f"refs/pull/{number}/head") != head_sha:
            return _json(*_SERVER_ERROR)
        now = _timestamp()
        self.pulls[(owner, name, number)] = {
            "owner": owner,
            "repo": name,
            "number": number,
            "title": title,
            "body": text or "",
            "user": account.name,
            "head": (head_owner, head_branch, head_sha),
            "base": (owner, base, base_sha),
            "draft": bool(body.get("draft", False)),
            "created_at": now,
            "updated_at": now,
        }
        return _json("200 OK", self._pull_json(self.pulls[(owner, name, number)]))

    def _user_json(self, login: str) -> dict[str, Any]:
        found = self.store.get(login)
        return found.api_json(self.base_url) if found else {"login": login}

    def _pull_json(self, pull: dict[str, Any]) -> dict[str, Any]:
        """ApiPullRequest (api/ApiPullRequest.scala); None fields are left out, as json4s does."""
        owner, name, number = pull["owner"], pull["repo"], pull["number"]
        api = f"{self.base_url}/api/v3/repos/{owner}/{name}"

        def commit(side: tuple[str, str, str]) -> dict[str, Any]:
            repo_owner, ref, sha = side
            label = ref if repo_owner == owner else f"{repo_owner}:{ref}"
            user = self._user_json(repo_owner)
            return {"sha": sha, "ref": ref, "repo": self._repo_json(repo_owner, name), "label": label, "user": user}

        return {
            "number": number,
            "state": "open",
            "updated_at": pull["updated_at"],
            "created_at": pull["created_at"],
            "head": commit(pull["head"]),
            "base": commit(pull["base"]),
            "merged": False,
            "title": pull["title"],
            "body": pull["body"],
            "user": self._user_json(pull["user"]),
            "labels": [self._label_json(owner, name, n) for n in pull.get("labels", [])],
            "assignees": [],
            "draft": pull["draft"],
            "id": 0,
            "html_url": f"{self.base_url}/{owner}/{name}/pull/{number}",
            "url": f"{api}/pulls/{number}",
            "commits_url": f"{api}/pulls/{number}/commits",
            "review_comments_url": f"{api}/pulls/{number}/comments",
            "review_comment_url": f"{api}/pulls/comments/{{number}}",
            "comments_url": f"{api}/issues/{number}/comments",
            "statuses_url": f"{api}/statuses/{pull['head'][2]}",
        }

    def _comment_json(self, comment: dict[str, Any], user: str | None = None) -> dict[str, Any]:
        """ApiComment; `user` is whose account it shows (the PATCH answer shows the caller's)."""
        where = f"{comment['owner']}/{comment['repo']}"
        return {
            "id": comment["id"],
            "user": self._user_json(user or comment["author"]),
            "body": comment["body"],
            "created_at": comment["created_at"],
            "updated_at": comment["updated_at"],
            "html_url": f"{self.base_url}/{where}/pull/{comment['issue']}#comment-{comment['id']}",
        }

    def _issue_comments(
        self, method: str, owner: str, name: str, rest: list[str], body: dict[str, Any], account: Account
    ) -> Response:
        """ApiIssueCommentControllerBase.scala: list (:16), get (:31), update (:46), create (:113);
        an issue's labels (ApiIssueLabelControllerBase.scala: list :107, add :117)."""
        if len(rest) == 2 and rest[1] == "labels" and rest[0].isdigit() and method in ("GET", "POST"):
            return self._issue_labels(method, owner, name, int(rest[0]), body, account)
        if len(rest) == 2 and rest[1] == "comments" and method in ("GET", "POST"):
            if not rest[0].isdigit():
                return _json(*_NOT_FOUND)  # toIntOpt
            number = int(rest[0])
            if method == "GET":
                rows = sorted(
                    (
                        c
                        for c in self.issue_comments.values()
                        if (c["owner"], c["repo"], c["issue"]) == (owner, name, number)
                    ),
                    key=lambda c: int(c["id"]),
                )
                return _json("200 OK", [self._comment_json(c) for c in rows])
            text = body.get("body")
            if (owner, name, number) not in self.pulls or not isinstance(text, str) or not text:
                return _json(*_NOT_FOUND)
            if len(text.encode("utf-8")) > COMMENT_MAX_BYTES:
                return _json(*_SERVER_ERROR)  # MySQL: Data too long for column 'CONTENT'
            now = _timestamp()
            comment: dict[str, Any] = {
                "id": self._next_comment_id,
                "owner": owner,
                "repo": name,
                "issue": number,
                "body": text,
            }
            comment |= {"author": account.name, "created_at": now, "updated_at": now}
            self._next_comment_id += 1
            self.issue_comments[comment["id"]] = comment
            return _json("200 OK", self._comment_json(comment, account.name))
        if len(rest) == 2 and rest[0] == "comments" and method in ("GET", "PATCH"):
            if method == "GET" and not rest[1].isdigit():
                return _json(*_SERVER_ERROR)  # params("id").toInt throws
            found = self.issue_comments.get(int(rest[1])) if rest[1].isdigit() else None
            if found is None or (found["owner"], found["repo"]) != (owner, name):
                return _json(*_NOT_FOUND)
            if method == "GET":
                return _json("200 OK", self._comment_json(found))
            if not (self._writable(owner, name, account) or found["author"] == account.name):
                return _json(*_REFUSED)  # isEditable
            text = body.get("body")
            if isinstance(text, str):
                if len(text.encode("utf-8")) > COMMENT_MAX_BYTES:
                    return _json(*_SERVER_ERROR)
                found["body"], found["updated_at"] = text, _timestamp()
            return _json("200 OK", self._comment_json(found, account.name))
        return _json(*_NOT_FOUND)

    def _issue_labels(
        self, method: str, owner: str, name: str, number: int, body: dict[str, Any], account: Account
    ) -> Response:
        """GET: the issue's labels (none for an issue that does not exist); POST {labels: [...]}
        (writableUsersOnly) adds them, creating a repository label that does not exist yet."""
        pull = self.pulls.get((owner, name, number))
        if method == "POST":
            if not self._writable(owner, name, account):
                return _json(*_REFUSED)
            names = body.get("labels")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                return _json(*_NOT_FOUND)  # AddLabelsToAnIssue not extracted
            if pull is None:
                return _json(*_SERVER_ERROR)  # registerIssueLabel: the ISSUE foreign key
            pull.setdefault("labels", [])
            pull["labels"] += [n for n in names if n not in pull["labels"]]
            return _json("200 OK", [self._label_json(owner, name, n) for n in names])
        labels = pull.get("labels", []) if pull else []
        return _json("200 OK", [self._label_json(owner, name, n) for n in labels])

    def _label_json(self, owner: str, name: str, label: str) -> dict[str, Any]:
        """ApiLabel: name, color and url."""
        return {"name": label, "color": "888888", "url": f"{self.base_url}/api/v3/repos/{owner}/{name}/labels/{label}"}

    def _create_user(self, body: dict[str, Any], account: Account) -> Response:
        """POST /api/v3/admin/users (ApiUserControllerBase.scala:68): admins only, no check of
        the login (the web form's checks are not applied), a duplicate is a key violation."""
        if not account.admin:
            return _json(*_REFUSED)
        login, password, email = body.get("login"), body.get("password"), body.get("email")
        optional = {"fullName": str, "isAdmin": bool, "description": str, "url": str}
        if not all(isinstance(v, str) for v in (login, password, email)) or any(
            body.get(k) is not None and not isinstance(body[k], kind) for k, kind in optional.items()
        ):
            return _json(*_NOT_FOUND)  # CreateAUser not extracted: the route yields nothing
        assert isinstance(login, str) and isinstance(password, str) and isinstance(email, str)
        created = Account(login, email, admin=bool(body.get("isAdmin", False)), full_name=body.get("fullName") or login)
        self.store.create(created, password)
        return _json("200 OK", created.api_json(self.base_url))

    def _collaborators(
        self, method: str, owner: str, repo: str, rest: list[str], body: dict[str, Any], account: Account
    ) -> Response:
        if method == "GET":
            if not self._readable(owner, repo, account):
                return _json(*_REFUSED)
            rows = self.store.collaborators(owner, repo)
            if not rest:
                users = [self.store.get(name) for name in sorted(rows)]
                return _json("200 OK", [u.api_json(self.base_url) for u in users if u is not None])
            user = self.store.get(rest[0])
            if user is None or rest[0] not in rows:
                return _json(*_NOT_FOUND)
            if len(rest) == 1:
                return "204 No Content", [], b""
            if rest[1:] == ["permission"]:
                return _json("200 OK", {"permission": rows[rest[0]], "user": user.api_json(self.base_url)})
            return _json(*_NOT_FOUND)
        if method in ("PUT", "DELETE") and len(rest) == 1:
            if not self._manages(owner, repo, account):
                return _json(*_REFUSED)
            if method == "DELETE":
                self.store.remove_collaborator(owner, repo, rest[0])
                return "204 No Content", [], b""
            role = ROLES.get(str(body.get("permission")))
            if role is None:
                return _json(*_NOT_FOUND)  # AddACollaborator's match fails: not extracted
            self.store.add_collaborator(owner, repo, rest[0], role)  # a duplicate: Conflict, 500
            return "204 No Content", [], b""
        return _json(*_NOT_FOUND)

    def _hooks(self, method: str, repo: str, rest: list[str], body: dict[str, Any]) -> Response:
        """WEB_HOOK rows with their events (WebHookService.scala); one with no event is hidden."""
        hooks = self.hooks.setdefault(repo, [])
        visible = [h for h in hooks if h["events"]]
        by_id = [h for h in visible if rest and str(h["id"]) == rest[0]]
        if method == "GET" and not rest:
            return _json("200 OK", sorted(visible, key=lambda h: str(h["config"]["url"])))
        if method in ("GET", "DELETE") and len(rest) == 1:
            if not by_id:
                return _json(*_NOT_FOUND)
            if method == "GET":
                return _json("200 OK", by_id[0])
            hooks.remove(by_id[0])
            return "204 No Content", [], b""
        if method not in ("POST", "PATCH") or len(rest) != (0 if method == "POST" else 1):
            return _json(*_NOT_FOUND)
        config = body.get("config")
        if not isinstance(config, dict) or not isinstance(config.get("url"), str):
            return _json(*_NOT_FOUND)  # the body is not extracted: the route yields nothing
        if config.get("content_type", "form") not in ("form", "json"):
            return _json(*_NOT_FOUND)  # isValid
        listed = [body.get("events", ["push"]), body.get("add_events", []), body.get("remove_events", [])]
        if not all(isinstance(names, list) for names in listed):
            return _json(*_NOT_FOUND)
        events = [*listed[0], *listed[1]]
        if not set(events) <= _EVENTS:
            return _json(*_SERVER_ERROR)  # WebHook.Event.valueOf throws
        url, settings = config["url"], {"content_type": config.get("content_type", "form"), "url": config["url"]}
        chosen = sorted(set(events) - set(listed[2]))
        if method == "POST":
            if any(h["config"]["url"] == url for h in hooks):
                return _json(*_SERVER_ERROR)  # the unique key IDX_WEB_HOOK_1 (USER_NAME, REPOSITORY_NAME, URL)
            hook_id = self._next_hook_id
            self._next_hook_id += 1
            hook = {"type": "Repository", "id": hook_id, "name": "web", "active": True, "events": chosen}
            hooks.append({**hook, "config": settings, "url": f"/api/v3/{repo}/hooks/{hook_id}"})
            return _json("200 OK", hooks[-1]) if chosen else ("200 OK", [], b"")
        # PATCH (updateWebHookByApi): the hook of that id, if any, takes the body's URL; then
        # the events are written under that URL, whichever hook holds it.
        target = next((h for h in hooks if str(h["id"]) == rest[0]), None)
        if target is not None and any(h is not target and h["config"]["url"] == url for h in hooks):
            return _json(*_SERVER_ERROR)  # the unique key again
        holder = target if target is not None else next((h for h in hooks if h["config"]["url"] == url), None)
        if holder is None and chosen:
            return _json(*_SERVER_ERROR)  # WEB_HOOK_EVENT's foreign key: no hook has that URL
        if target is not None:
            target["config"] = settings
        if holder is not None:
            holder["events"] = chosen
        return _json("200 OK", target) if target is not None and target["events"] else ("200 OK", [], b"")

    def _git(self, environ: dict[str, Any], path_info: str, account: Account | None) -> Response:
        """GitAuthenticationFilter.defaultRepository: 404 for a missing repository; a push
        needs write, a fetch read (every repository here is private); else a challenge."""
        parts = path_info.strip("/").split("/")
        if len(parts) < 2:
            return "404 Not Found", [], b""
        owner, repo = parts[0], re.sub(r"(\.wiki)?\.git$", "", parts[1])
        if not self._exists(owner, repo):
            return "404 Not Found", [], b""
        updating = path_info.endswith("/git-receive-pack") or environ.get("QUERY_STRING") == "service=git-receive-pack"
        allowed = self._writable if updating else self._readable
        if account is None or not allowed(owner, repo, account):
            return "401 Unauthorized", [("WWW-Authenticate", 'BASIC realm="GitBucket"')], b""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cgi_env = {
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path_info,
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": account.name,
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_CONTENT_ENCODING": environ.get("HTTP_CONTENT_ENCODING", ""),
            "GIT_PROTOCOL": environ.get("HTTP_GIT_PROTOCOL", ""),
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        }
        done = subprocess.run(["git", "http-backend"], input=body, env=cgi_env, capture_output=True, check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = "200 OK", []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(": ")
            if key.lower() == "status":
                status = value
            elif key:
                headers.append((key, value))
        return status, headers, payload


def _timestamp() -> str:
    """JsonFormat's dates: UTC, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _open(path: str) -> bool:
    """Reachable without signing in when anonymous access is off (PreProcessController.scala:34-39)."""
    return path.startswith(OPEN_PREFIXES) or path.endswith("/info/refs") or path == "/user.css"


def _json(status: str, value: Any) -> Response:
    return status, [("Content-Type", "application/json")], json.dumps(value).encode()


@contextmanager
def served(app: Any) -> Iterator[str]:
    """Serve a WSGI app (a fake) on 127.0.0.1, a free port, for the duration of the block: its base URL."""
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serving(root: Path, **kwargs: Any) -> Iterator[FakeGitBucket]:
    """Run the fake on 127.0.0.1 (a free port) for the duration of the block."""
    fake = FakeGitBucket(root=root, **kwargs)
    with served(fake) as fake.base_url:
        yield fake


# Columns added since the fake's first ACCOUNT table (USER_NAME, PASSWORD): a database of
# an earlier e2e run gets them, root its row's values.
_ACCOUNT_COLUMNS = {
    "MAIL_ADDRESS": "VARCHAR(100) NULL",
    "ADMINISTRATOR": "BOOLEAN NOT NULL DEFAULT FALSE",
    "FULL_NAME": "VARCHAR(100) NOT NULL DEFAULT ''",
    "REGISTERED_DATE": "DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP",
}


class DatabaseAccounts:
    """GitBucket's ACCOUNT, COLLABORATOR and REPOSITORY tables on MySQL (the columns the fake
    uses, with GitBucket's keys: update/gitbucket-core_4.0.xml), and its password check
    (AccountService.defaultAuthentication: PBKDF2, or a legacy SHA-1 hex).

    `new_repository_table` says this start added the REPOSITORY table to a database the fake
    made before it had one (it kept repositories as folders only: see `main`); a new database
    gets an empty one, as GitBucket's."""

    def __init__(self, jdbc_url: str, user: str, password: str) -> None:
        import pymysql  # only the containerised fake and its integration tests need it

        self._integrity_error = pymysql.err.IntegrityError
        match = re.match(r"^jdbc:mysql://([^:/]+)(?::(\d+))?/([A-Za-z0-9_]+)", jdbc_url)
        if not match:
            raise ValueError(f"GITBUCKET_DB_URL {jdbc_url!r} is not a jdbc:mysql:// URL")
        host, port, database = match.group(1), int(match.group(2) or 3306), match.group(3)

        def connect() -> Any:
            return pymysql.connect(
                host=host, port=port, user=user, password=password, database=database, autocommit=True
            )

        self._connect = connect
        for _ in range(120):
            try:
                self.conn = connect()
                break
            except pymysql.err.OperationalError:
                time.sleep(1)
        else:
            raise RuntimeError(f"cannot reach the database {host}:{port}/{database}")
        self.lock = threading.Lock()
        with self.conn.cursor() as cursor:
            cursor.execute("SHOW TABLES LIKE 'ACCOUNT'")
            earlier = bool(cursor.fetchall())
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS ACCOUNT (USER_NAME VARCHAR(100) PRIMARY KEY, "
                "PASSWORD VARCHAR(200) NOT NULL)"
            )
            cursor.execute(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = 'ACCOUNT'"
            )
            present = {row[0] for row in cursor.fetchall()}
            for column, definition in _ACCOUNT_COLUMNS.items():
                if column not in present:
                    cursor.execute(f"ALTER TABLE ACCOUNT ADD COLUMN {column} {definition}")
            if "MAIL_ADDRESS" not in present:
                cursor.execute("ALTER TABLE ACCOUNT ADD CONSTRAINT IDX_ACCOUNT_1 UNIQUE (MAIL_ADDRESS)")
            cursor.execute(
                "INSERT IGNORE INTO ACCOUNT (USER_NAME, PASSWORD, MAIL_ADDRESS, ADMINISTRATOR, FULL_NAME) "
                "VALUES ('root', SHA1('root'), 'root@localhost', TRUE, 'root')"
            )
            cursor.execute(
                "UPDATE ACCOUNT SET MAIL_ADDRESS = 'root@localhost', ADMINISTRATOR = TRUE, FULL_NAME = 'root' "
                "WHERE USER_NAME = 'root' AND MAIL_ADDRESS IS NULL"
            )
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS COLLABORATOR (USER_NAME VARCHAR(100) NOT NULL, "
                "REPOSITORY_NAME VARCHAR(100) NOT NULL, COLLABORATOR_NAME VARCHAR(100) NOT NULL, "
                "ROLE VARCHAR(10) NOT NULL, PRIMARY KEY (USER_NAME, REPOSITORY_NAME, COLLABORATOR_NAME), "
                "CONSTRAINT IDX_COLLABORATOR_FK1 FOREIGN KEY (COLLABORATOR_NAME) REFERENCES ACCOUNT (USER_NAME))"
            )
            cursor.execute("SHOW TABLES LIKE 'REPOSITORY'")
            self.new_repository_table = earlier and not cursor.fetchall()
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS REPOSITORY (USER_NAME VARCHAR(100) NOT NULL, "
                "REPOSITORY_NAME VARCHAR(100) NOT NULL, PRIMARY KEY (USER_NAME, REPOSITORY_NAME))"
            )

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self.lock:
            try:
                self.conn.ping()
            except Exception:  # a connection MySQL closed (idle, restarted): a new one
                self.conn = self._connect()
            return self._execute(sql, args)

    def _execute(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cursor:
            try:
                cursor.execute(sql, args)
            except self._integrity_error as error:
                raise Conflict(str(error)) from error
            return list(cursor.fetchall())

    def _account(self, row: tuple[Any, ...]) -> Account:
        name, email, admin, full_name, registered = row
        return Account(name, email or "", bool(admin), full_name or "", registered.replace(tzinfo=UTC))

    _SELECT = "SELECT USER_NAME, MAIL_ADDRESS, ADMINISTRATOR, FULL_NAME, REGISTERED_DATE FROM ACCOUNT"

    def authenticate(self, user: str, password: str) -> Account | None:
        rows = self._query("SELECT PASSWORD FROM ACCOUNT WHERE USER_NAME = %s", (user,))
        if not rows or not password_matches(password, rows[0][0]):
            return None
        return self.get(user)

    def get(self, user: str) -> Account | None:
        rows = self._query(f"{self._SELECT} WHERE USER_NAME = %s", (user,))
        return self._account(rows[0]) if rows else None

    def create(self, account: Account, password: str) -> None:
        self._query(
            "INSERT INTO ACCOUNT (USER_NAME, PASSWORD, MAIL_ADDRESS, ADMINISTRATOR, FULL_NAME, REGISTERED_DATE) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (
                account.name,
                pbkdf2_sha256(password),
                account.email,
                account.admin,
                account.full_name,
                account.created.replace(tzinfo=None),
            ),
        )

    def collaborators(self, owner: str, repo: str) -> dict[str, str]:
        rows = self._query(
            "SELECT COLLABORATOR_NAME, ROLE FROM COLLABORATOR WHERE USER_NAME = %s AND REPOSITORY_NAME = %s",
            (owner, repo),
        )
        return {name: role for name, role in rows}

    def add_collaborator(self, owner: str, repo: str, user: str, role: str) -> None:
        self._query("INSERT INTO COLLABORATOR VALUES (%s, %s, %s, %s)", (owner, repo, user, role))

    def remove_collaborator(self, owner: str, repo: str, user: str) -> None:
        self._query(
            "DELETE FROM COLLABORATOR WHERE USER_NAME = %s AND REPOSITORY_NAME = %s AND COLLABORATOR_NAME = %s",
            (owner, repo, user),
        )

    def has_repository(self, owner: str, repo: str) -> bool:
        return bool(
            self._query("SELECT 1 FROM REPOSITORY WHERE USER_NAME = %s AND REPOSITORY_NAME = %s", (owner, repo))
        )

    def add_repository(self, owner: str, repo: str) -> None:
        self._query("INSERT INTO REPOSITORY VALUES (%s, %s)", (owner, repo))


def pbkdf2_sha256(password: str, iterations: int = 100_000) -> str:
    """StringUtil.pbkdf2_sha256: what GitBucket stores for a password it is given."""
    salt = os.urandom(32)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, 32)
    return f"$pbkdf2-sha256${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    """AccountService.defaultAuthentication's check."""
    if stored.startswith("$pbkdf2-sha256$"):
        _, _, iterations, salt, digest = stored.split("$")
        computed = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations), 32)
        return hmac.compare_digest(base64.b64encode(computed).decode(), digest)
    return hmac.compare_digest(hashlib.sha1(password.encode()).hexdigest(), stored)  # noqa: S324


def adopt_earlier_folders(root: Path, accounts: DatabaseAccounts) -> list[str]:
    """A database of the fake from before it had a REPOSITORY table kept its repositories as
    folders only: they are registered, once (a new database registers none: GitBucket's case
    of a volume kept, its database new)."""
    if not accounts.new_repository_table:
        return []
    adopted = []
    for folder in sorted(root.glob("*/*.git")):
        if not folder.name.endswith(".wiki.git") and (folder / "config").exists():
            accounts.add_repository(folder.parent.name, folder.name.removesuffix(".git"))
            adopted.append(f"{folder.parent.name}/{folder.name.removesuffix('.git')}")
    return adopted


def main() -> None:
    home = Path(os.environ.get("GITBUCKET_HOME", "/gitbucket"))
    accounts = DatabaseAccounts(
        os.environ["GITBUCKET_DB_URL"], os.environ["GITBUCKET_DB_USER"], os.environ["GITBUCKET_DB_PASSWORD"]
    )
    fake = FakeGitBucket(
        root=home / "repositories",
        accounts=accounts,
        anonymous_access=os.environ.get("GITBUCKET_ALLOW_ANONYMOUS_ACCESS", "true").lower() != "false",
    )
    fake.root.mkdir(parents=True, exist_ok=True)
    adopt_earlier_folders(fake.root, accounts)
    port = int(os.environ.get("GITBUCKET_PORT", "8080"))
    server = make_server(
        "0.0.0.0",
        port,
        fake,
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )
    fake.base_url = os.environ.get("GITBUCKET_BASE_URL", f"http://gitbucket:{port}")
    print(f"FAKE GitBucket (tests only) on :{port}, repositories in {fake.root}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
