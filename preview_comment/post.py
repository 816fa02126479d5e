"""Post the preview comment on a pull request: one comment per set of stacks, updated in place.

What identifies the comment: the hidden marker lines the renderer writes at its top, one per
stack (`<!-- mlops-stack-preview:<stack> -->`). One command run renders one comment for the
stacks it is given, so the comment of `--stack dev --stack e2e` is the one whose marker lines
name exactly {dev, e2e} (in any order); `--stack e2e` alone has a comment of its own.

What tells a comment the tool wrote from one a person edited: the stamp line that `stamped`
puts after the marker lines, `<!-- mlops-stack-preview sha256=<hex> -->`, the SHA-256 of the
rest of the body (CRLF read as LF, trailing white space ignored). A body that no longer
matches its stamp (or has none) was edited: it is left as it is and a new comment is posted.

Which comments are considered: only those whose author is the account the tool posts as
(a person quoting the marker is never overwritten), whose marker lines name the same stacks.
Of those the newest (highest id) is updated if intact; the others are left alone.

Two forges behind the `Forge` protocol: GitHub's REST API and GitBucket's API v3 (4.46.1).
Every call has a timeout; an error names the forge and the call and never holds a credential.

Usage
-----
    GITHUB_TOKEN=... python -m preview_comment --stack e2e --post github --repo OWNER/NAME --pr 12
    GITBUCKET_URL=http://127.0.0.1:8080 GITBUCKET_USER=... GITBUCKET_PASSWORD=... \
        python -m preview_comment --stack e2e --post gitbucket --repo root/app --pr 3

- GitHub: token from GITHUB_TOKEN (`Authorization: Bearer`), API from GITHUB_API_URL
  (https://api.github.com). The account is read from `GET /user`; an Actions or App token
  cannot read it (403): the tool then takes `github-actions[bot]` (Actions' GITHUB_TOKEN),
  or `--as-login <app>[bot]` for another App; a comment created under another login is
  reported with the `--as-login` to give next time.
- GitBucket: GITBUCKET_URL, GITBUCKET_USER, GITBUCKET_PASSWORD (Basic, as UTF-8). The
  user must be able to read the repository (to comment) and be the comment's author or a
  developer of the repository (to edit it).
- Size: `--limit` may not exceed the forge's limit less the stamp line (`max_limit`:
  65,435 on GitHub, 65,434 on GitBucket); the stamped body is checked again before it is sent.
- Output: the comment on stdout as before; on stderr one line of what was done with the
  comment's address: `created`, `updated`, `unchanged` (same body: no call), or `created (left
  an edited comment)` with the address of the edited one. Exit 1 if posting failed (even
  when a change would lose data), else 2 for data loss without override (after posting),
  else 0.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

from mlops_clients.common import ServiceError, http_session
from mlops_clients.contracts import GitBucketEnv

# GitHub refuses a comment body over 65,536 characters (422 "body is too long"); GitBucket
# keeps it in ISSUE_COMMENT.CONTENT, a TEXT column of MySQL: 65,535 bytes (over: a 500).
GITHUB_MAX_CHARS = 65_536
GITBUCKET_MAX_BYTES = 65_535
GITHUB_ACTIONS_LOGIN = "github-actions[bot]"
STAMP = "<!-- mlops-stack-preview sha256={digest} -->"
STAMP_SIZE = len(STAMP.format(digest="0" * 64)) + 1  # the line and its newline, ASCII
_MARKER_LINE = re.compile(r"^<!-- mlops-stack-preview:(\S+) -->$")
_STAMP_LINE = re.compile(r"^<!-- mlops-stack-preview sha256=([0-9a-f]{64}) -->$")
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
TIMEOUT = 30.0
MAX_PAGES = 200  # 20,000 comments at 100 a page: a forge sending `next` for ever is stopped


class PostError(ServiceError):
    """Posting failed: names the forge, the call and the answer (never a credential)."""


@dataclass(frozen=True)
class Comment:
    id: int
    author: str
    body: str
    url: str


class Forge(Protocol):
    """The few calls the upsert needs, on one repository."""

    name: str

    def check_size(self, body: str) -> None:
        """Raise PostError if the forge would refuse a body this long."""

    def pull_request(self, pr: int) -> str:
        """The pull request's web address; PostError if there is no such pull request."""

    def whoami(self) -> str | None:
        """The login the credentials post as; None if the forge will not say (a GitHub App token)."""

    def labels(self, pr: int) -> frozenset[str]:
        """The names of the labels on the pull request (its issue's)."""

    def list_comments(self, pr: int) -> list[Comment]: ...
    def create_comment(self, pr: int, body: str) -> Comment: ...
    def update_comment(self, comment_id: int, body: str) -> Comment: ...


# The stamp ----------------------------------------------------------------------------


def _normal(text: str) -> str:
    return text.replace("\r\n", "\n").rstrip()


def digest(rendered: str) -> str:
    return hashlib.sha256(_normal(rendered).encode("utf-8")).hexdigest()


def stacks_of(body: str) -> frozenset[str]:
    """The stacks named by the marker lines at the top of a comment (the stamp line may sit among them)."""
    found = set()
    for line in body.replace("\r\n", "\n").split("\n"):
        marker = _MARKER_LINE.match(line)
        if marker:
            found.add(marker.group(1))
        elif not _STAMP_LINE.match(line):
            break
    return frozenset(found)


def stamped(rendered: str) -> str:
    """The rendered comment with its stamp line after the marker lines."""
    lines = rendered.split("\n")
    at = 0
    while at < len(lines) and _MARKER_LINE.match(lines[at]):
        at += 1
    return "\n".join([*lines[:at], STAMP.format(digest=digest(rendered)), *lines[at:]])


def unstamped(body: str) -> tuple[str | None, str]:
    """(the stamp's digest or None, the body without its stamp line)."""
    lines = body.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        stamp = _STAMP_LINE.match(line)
        if stamp:
            return stamp.group(1), "\n".join(lines[:index] + lines[index + 1 :])
        if not _MARKER_LINE.match(line):
            break
    return None, body


def intact(body: str) -> bool:
    """The body is as the tool wrote it: its stamp matches the rest."""
    found, rest = unstamped(body)
    return found is not None and found == digest(rest)


# The upsert ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    action: str  # created, updated, unchanged, or "created (left an edited comment)"
    comment: Comment
    edited: Comment | None = None  # the tool's newest comment, edited by someone and left
    others: tuple[Comment, ...] = ()  # older comments of the tool for the same stacks, left
    login: str = ""
    login_note: str = ""

    def describe(self, forge: str) -> str:
        lines = [f"{forge}: {self.action} comment {self.comment.url}"]
        if self.edited is not None:
            lines.append(f"{forge}: comment {self.edited.url} was edited by someone: left as it is")
        if self.others:
            lines.append(f"{forge}: {len(self.others)} older comment(s) of the tool for these stacks left as they are")
        if self.login_note:
            lines.append(f"{forge}: {self.login_note}")
        return "\n".join(lines)


def upsert(forge: Forge, pr: int, rendered: str, as_login: str | None = None) -> Outcome:
    """Create or update the pull request's comment for the stacks `rendered` names."""
    body = stamped(rendered)
    forge.check_size(body)
    wanted = stacks_of(body)
    if not wanted:
        raise ValueError("the comment has no marker line")
    forge.pull_request(pr)
    login, note = as_login, ""
    if login is None:
        login = forge.whoami()
        if login is None:
            login = GITHUB_ACTIONS_LOGIN
            note = f"the token cannot read its account (GET /user): taken as {login}; --as-login to name another"
    ours = [c for c in forge.list_comments(pr) if c.author == login and stacks_of(c.body) == wanted]
    if not ours:
        created = forge.create_comment(pr, body)
        return Outcome("created", created, login=login, login_note=_author_note(created, login, note))
    newest = max(ours, key=lambda c: c.id)
    others = tuple(sorted((c for c in ours if c is not newest), key=lambda c: c.id))
    if not intact(newest.body):
        created = forge.create_comment(pr, body)
        return Outcome(
            "created (left an edited comment)",
            created,
            edited=newest,
            others=others,
            login=login,
            login_note=_author_note(created, login, note),
        )
    if _normal(newest.body) == _normal(body):
        return Outcome("unchanged", newest, others=others, login=login, login_note=note)
    updated = forge.update_comment(newest.id, body)
    return Outcome("updated", updated, others=others, login=login, login_note=note)


def _author_note(created: Comment, assumed: str, note: str) -> str:
    if created.author and created.author != assumed:
        return f"the comment was posted as {created.author}, not {assumed}: pass --as-login {created.author}"
    return note


# HTTP ---------------------------------------------------------------------------------


class _Http:
    """A session with a timeout on every call, errors as PostError with the credentials scrubbed."""

    def __init__(self, service: str, base_url: str, secrets: Iterable[str], headers: Mapping[str, str]) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.secrets = [s for s in secrets if s]
        # Answers of 500 and 502-504 are retried for GET and PATCH (not POST: it may have been applied).
        self.session = http_session(total_retries=3)
        self.session.headers.update(headers)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def call(self, method: str, target: str, expect: tuple[int, ...], what: str, **kwargs: Any) -> Any:
        """One request; `target` is a path under the API or an absolute URL on the API's host."""
        url = target if target.startswith(("http://", "https://")) else f"{self.base_url}{target}"
        call = f"{method} {urlsplit(url).path}"
        try:
            response = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        except OSError as error:  # requests' exceptions are OSErrors
            raise PostError(self.service, call, self.scrub(f"{what}: {error}")) from None
        if response.status_code not in expect:
            raise PostError(self.service, call, self.scrub(f"{what}: {_answer(response)}"))
        return response

    def json(self, response: Any, call: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise PostError(self.service, call, f"answered no JSON: {self.scrub(response.text[:200])!r}") from None

    def same_origin(self, url: str) -> bool:
        """A `next` page on the API's own scheme, host and port (the token goes nowhere else)."""
        ours, theirs = urlsplit(self.base_url), urlsplit(url)
        return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc)


def _answer(response: Any) -> str:
    text = f"HTTP {response.status_code}"
    try:
        value = response.json()
    except ValueError:
        return f"{text}: {response.text[:200]!r}" if response.text else text
    if isinstance(value, Mapping):
        message = str(value.get("message", ""))[:200]
        listed = value.get("errors")
        errors = [e for e in listed if isinstance(e, Mapping)] if isinstance(listed, list) else []
        details = [str(e.get("message") or e.get("code") or "")[:200] for e in errors]
        return "; ".join(p for p in (text, message, *details) if p)
    return text


def _comment(value: Any, service: str, call: str) -> Comment:
    if isinstance(value, Mapping):
        user = value.get("user")
        login = user.get("login") if isinstance(user, Mapping) else None
        ident, body, url = value.get("id"), value.get("body"), value.get("html_url")
        if isinstance(ident, int) and isinstance(login, str) and isinstance(body, str):
            return Comment(ident, login, body, url if isinstance(url, str) else "")
    raise PostError(service, call, "answered something that is not a comment")


def _next_link(header: str) -> str | None:
    """The rel="next" address of a Link header (RFC 8288, as GitHub writes it)."""
    for part in header.split(","):
        address, _, params = part.partition(";")
        if re.search(r'\brel="?next"?', params):
            return address.strip().strip("<>")
    return None


class _RestForge:
    """What GitHub's REST API and GitBucket's API v3 share: the paths and JSON of issue comments."""

    name = "forge"
    created_status: tuple[int, ...] = (201,)

    def __init__(self, http: _Http, repo: str) -> None:
        if not _REPO.match(repo):
            raise ValueError(f"--repo {repo!r} is not OWNER/NAME")
        self.http = http
        self.repo = repo

    def list_comments(self, pr: int) -> list[Comment]:
        target: str | None = f"/repos/{self.repo}/issues/{pr}/comments?per_page=100"
        comments: list[Comment] = []
        for _ in range(MAX_PAGES):
            if target is None:
                return comments
            response = self.http.call("GET", target, (200,), "list the comments", allow_redirects=False)
            call = f"GET {urlsplit(response.url).path}"
            page = self.http.json(response, call)
            if not isinstance(page, list):
                raise PostError(self.name, call, "answered something that is not a list of comments")
            comments += [_comment(item, self.name, call) for item in page]
            target = _next_link(response.headers.get("Link", ""))
            if target is not None:
                target = urljoin(response.url, target)
                if not self.http.same_origin(target):
                    raise PostError(self.name, call, f"the next page is on another host: {urlsplit(target).netloc}")
        raise PostError(self.name, f"GET /repos/{self.repo}/issues/{pr}/comments", f"more than {MAX_PAGES} pages")

    def labels(self, pr: int) -> frozenset[str]:
        # GitHub: 30 a page (a pull request with more labels than that is not worth a loop);
        # GitBucket answers them all (ApiIssueLabelControllerBase: GET issues/:id/labels).
        path = f"/repos/{self.repo}/issues/{pr}/labels?per_page=100"
        call = f"GET /repos/{self.repo}/issues/{pr}/labels"
        answer = self.http.json(self.http.call("GET", path, (200,), "list the labels"), call)
        if not isinstance(answer, list) or not all(
            isinstance(i, dict) and isinstance(i.get("name"), str) for i in answer
        ):
            raise PostError(self.name, call, "answered something that is not a list of labels")
        return frozenset(item["name"] for item in answer)

    def create_comment(self, pr: int, body: str) -> Comment:
        path = f"/repos/{self.repo}/issues/{pr}/comments"
        response = self.http.call("POST", path, self.created_status, "create the comment", json={"body": body})
        return _comment(self.http.json(response, f"POST {path}"), self.name, f"POST {path}")

    def update_comment(self, comment_id: int, body: str) -> Comment:
        path = f"/repos/{self.repo}/issues/comments/{comment_id}"
        response = self.http.call("PATCH", path, (200,), "update the comment", json={"body": body})
        updated = _comment(self.http.json(response, f"PATCH {path}"), self.name, f"PATCH {path}")
        if updated.id != comment_id:
            raise PostError(self.name, f"PATCH {path}", f"answered comment {updated.id}")
        return updated


class GitHub(_RestForge):
    """GitHub's REST API (API version 2022-11-28), with a token (personal, App or Actions)."""

    name = "github"
    created_status = (201,)

    def __init__(self, repo: str, token: str, api_url: str = "https://api.github.com") -> None:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        super().__init__(_Http(self.name, api_url, [token], headers), repo)

    @classmethod
    def from_env(cls, repo: str, environ: Mapping[str, str]) -> GitHub:
        token = environ.get("GITHUB_TOKEN", "")
        if not token:
            raise PostError(cls.name, "configure", "environment variable GITHUB_TOKEN is not set")
        return cls(repo, token, environ.get("GITHUB_API_URL") or "https://api.github.com")

    def check_size(self, body: str) -> None:
        if len(body) > GITHUB_MAX_CHARS:
            raise PostError(
                self.name, "check the size", f"the comment is {len(body)} characters, over GitHub's {GITHUB_MAX_CHARS}"
            )

    def pull_request(self, pr: int) -> str:
        path = f"/repos/{self.repo}/pulls/{pr}"
        response = self.http.call("GET", path, (200, 404), "read the pull request")
        if response.status_code == 404:
            missing = f"no pull request #{pr} in {self.repo} (or the token cannot see it)"
            raise PostError(self.name, f"GET {path}", missing)
        value = self.http.json(response, f"GET {path}")
        if not isinstance(value, Mapping) or value.get("number") != pr:
            raise PostError(self.name, f"GET {path}", "answered something that is not the pull request")
        return str(value.get("html_url", ""))

    def whoami(self) -> str | None:
        # An App installation token (GITHUB_TOKEN in Actions) has no user: 403 "Resource not accessible by integration".
        response = self.http.call("GET", "/user", (200, 403), "read the token's account")
        if response.status_code == 403:
            return None
        value = self.http.json(response, "GET /user")
        if not isinstance(value, Mapping) or not isinstance(value.get("login"), str):
            raise PostError(self.name, "GET /user", "answered something that is not an account")
        return str(value["login"])


class GitBucket(_RestForge):
    """GitBucket's API v3 (4.46.1), with Basic credentials (sent as UTF-8, as GitBucket decodes them)."""

    name = "gitbucket"
    created_status = (200,)  # ApiIssueCommentControllerBase answers the new comment with 200

    def __init__(self, repo: str, base_url: str, user: str, password: str) -> None:
        http = _Http(self.name, f"{base_url.rstrip('/')}/api/v3", [password], {})
        # requests encodes a str credential as latin-1; GitBucket decodes UTF-8 (AuthUtil): bytes it is.
        http.session.auth = (user.encode(), password.encode())
        super().__init__(http, repo)

    @classmethod
    def from_env(cls, repo: str, environ: Mapping[str, str]) -> GitBucket:
        missing = [v.value for v in (GitBucketEnv.URL, GitBucketEnv.USER, GitBucketEnv.PASSWORD) if not environ.get(v)]
        if missing:
            raise PostError(cls.name, "configure", f"environment variable(s) {', '.join(missing)} not set")
        return cls(repo, environ[GitBucketEnv.URL], environ[GitBucketEnv.USER], environ[GitBucketEnv.PASSWORD])

    def check_size(self, body: str) -> None:
        size = len(body.encode("utf-8"))
        if size > GITBUCKET_MAX_BYTES:
            raise PostError(
                self.name,
                "check the size",
                f"the comment is {size} bytes of UTF-8, over GitBucket's {GITBUCKET_MAX_BYTES} (a TEXT column)",
            )

    def pull_request(self, pr: int) -> str:
        # A number that is no pull request answers 200 with an empty body (JsonFormat(None)), or 404.
        path = f"/repos/{self.repo}/pulls/{pr}"
        response = self.http.call("GET", path, (200, 404), "read the pull request")
        value = None
        if response.status_code == 200 and response.content.strip():
            value = self.http.json(response, f"GET {path}")
        if not isinstance(value, Mapping) or value.get("number") != pr:
            raise PostError(self.name, f"GET {path}", f"no pull request #{pr} in {self.repo} (or no right to read it)")
        return str(value.get("html_url", ""))

    def whoami(self) -> str:
        response = self.http.call("GET", "/user", (200,), "read the account")
        value = self.http.json(response, "GET /user")
        if not isinstance(value, Mapping) or not isinstance(value.get("login"), str):
            raise PostError(self.name, "GET /user", "answered something that is not an account")
        return str(value["login"])


FORGES = ("github", "gitbucket")


def max_limit(forge: str) -> int:
    """The largest --limit whose stamped comment the forge still takes (bytes count at least the characters)."""
    return (GITHUB_MAX_CHARS if forge == "github" else GITBUCKET_MAX_BYTES) - STAMP_SIZE


def forge_from_env(forge: str, repo: str, environ: Mapping[str, str]) -> Forge:
    if forge == "github":
        return GitHub.from_env(repo, environ)
    if forge == "gitbucket":
        return GitBucket.from_env(repo, environ)
    raise ValueError(f"unknown forge {forge!r} (one of {', '.join(FORGES)})")


__all__ = [
    "FORGES",
    "Comment",
    "Forge",
    "GitBucket",
    "GitHub",
    "Outcome",
    "PostError",
    "forge_from_env",
    "intact",
    "max_limit",
    "stacks_of",
    "stamped",
    "upsert",
]
