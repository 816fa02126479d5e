"""FAKE GitHub, for tests only: the REST subset `python -m preview_comment --post github` calls,
since github.com cannot be reached from this machine.

Shaped on GitHub's REST API documentation (API version 2022-11-28) and on answers GitHub gives:
- auth by a token in `Authorization: Bearer <t>` (or `token <t>`): an unknown token answers 401
  {"message": "Bad credentials"}; none, 401 {"message": "Requires authentication"}.
- `GET /user`: the token's account; an App installation token (GITHUB_TOKEN in Actions, the
  fake's `app_tokens`) has none: 403 {"message": "Resource not accessible by integration"}.
- `GET /repos/{o}/{r}/pulls/{n}`: the pull request, or 404 {"message": "Not Found"}.
- `GET /repos/{o}/{r}/issues/{n}/labels`: the pull request's labels (first page).
- `GET /repos/{o}/{r}/issues/{n}/comments`: oldest first, `per_page` (default 30, at most 100;
  here at most `max_per_page`, small in tests) and `page`; a `Link` header with rel="next",
  "last" (and "first", "prev" after page 1) whose addresses are `/repositories/{id}/...`, as
  GitHub writes them; omitted when everything fits on one page.
- `POST /repos/{o}/{r}/issues/{n}/comments` answers 201 with the comment and a Location;
  `PATCH /repos/{o}/{r}/issues/comments/{id}` answers 200, for the comment's author or a
  maintainer (else 403); a missing or non-string body answers 422; a body over 65,536
  characters answers 422 {"message": "Validation Failed", "errors": [{"resource":
  "IssueComment", "code": "custom", "field": "body", "message": "body is too long (maximum is
  65536 characters)"}]} (characters counted as code points here).
- a comment: id, node_id, url, html_url, issue_url, body, user {login, id, type}, created_at,
  updated_at, author_association.
Not modelled: rate limits, ETags, other endpoints. A pull request cannot be opened through the
fake (it has no git): a test seeds one with `add_pull`. `answer_next` injects raw answers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from offline.fakes.fake_gitbucket import served

Response = tuple[str, list[tuple[str, str]], bytes]
MAX_BODY_CHARS = 65_536
DOCS = "https://docs.github.com/rest"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(status: str, value: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return status, [("Content-Type", "application/json; charset=utf-8"), *headers], json.dumps(value).encode()


def _error(status: str, message: str, docs: str = DOCS, errors: list[dict[str, str]] | None = None) -> Response:
    value: dict[str, Any] = {"message": message, "documentation_url": docs, "status": status.split()[0]}
    if errors is not None:
        value["errors"] = errors
    return _json(status, value)


@dataclass(frozen=True)
class _Caller:
    login: str
    kind: str  # "User", or "Bot" for an App token


@dataclass
class FakeGitHub:
    tokens: dict[str, str] = field(default_factory=dict)  # token -> login of a user
    app_tokens: dict[str, str] = field(default_factory=dict)  # token -> login of a bot (an App / Actions)
    maintainers: set[str] = field(default_factory=set)  # logins that may edit anyone's comment
    max_per_page: int = 100
    base_url: str = ""
    pulls: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _repo_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    _injected: list[Response] = field(default_factory=list)
    _next_id: int = 1_000_001
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_pull(
        self, owner: str, repo: str, number: int, title: str = "A change", labels: tuple[str, ...] = ()
    ) -> None:
        """Test-only seeding: pull request `number` exists in owner/repo, with these labels."""
        self._repo_ids.setdefault((owner, repo), 100 + len(self._repo_ids))
        self.pulls[(owner, repo, number)] = {
            "number": number,
            "state": "open",
            "title": title,
            "url": f"{self.base_url}/repos/{owner}/{repo}/pulls/{number}",
            "html_url": f"{self.base_url}/{owner}/{repo}/pull/{number}",
            "labels": [{"id": i + 1, "name": n, "color": "ededed", "default": False} for i, n in enumerate(labels)],
        }

    def answer_next(
        self, status: str, body: bytes, content_type: str = "text/html", headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """The next request is answered with this, whatever it asks."""
        self._injected.append((status, [("Content-Type", content_type), *headers], body))

    def comments_of(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments if (c["owner"], c["repo"], c["issue"]) == (owner, repo, number)]

    # WSGI entry point
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        self.requests.append((method, f"{path}?{query}" if query else path))
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with self._lock:
            if self._injected:
                status, headers, body = self._injected.pop(0)
            else:
                status, headers, body = self._dispatch(environ, method, path, query, raw)
        start_response(status, headers)
        return [body]

    def _account(self, environ: dict[str, Any]) -> _Caller | Response:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if not header:
            return _error("401 Unauthorized", "Requires authentication")
        if scheme.lower() not in ("bearer", "token"):
            return _error("401 Unauthorized", "Bad credentials")
        token = token.strip()
        if token in self.tokens:
            return _Caller(self.tokens[token], "User")
        if token in self.app_tokens:
            return _Caller(self.app_tokens[token], "Bot")
        return _error("401 Unauthorized", "Bad credentials")

    def _dispatch(self, environ: dict[str, Any], method: str, path: str, query: str, raw: bytes) -> Response:
        caller = self._account(environ)
        if not isinstance(caller, _Caller):
            return caller
        login, kind = caller.login, caller.kind
        parts = path.strip("/").split("/")
        if parts == ["user"] and method == "GET":
            if kind == "Bot":
                return _error(
                    "403 Forbidden",
                    "Resource not accessible by integration",
                    "https://docs.github.com/rest/users/users#get-the-authenticated-user",
                )
            return _json("200 OK", {"login": login, "id": self._user_id(login), "type": "User"})
        if len(parts) >= 2 and parts[0] == "repositories" and parts[1].isdigit():
            found = [key for key, ident in self._repo_ids.items() if str(ident) == parts[1]]
            if not found:
                return _error("404 Not Found", "Not Found")
            parts = ["repos", *found[0], *parts[2:]]
        if len(parts) < 4 or parts[0] != "repos" or (parts[1], parts[2]) not in self._repo_ids:
            return _error("404 Not Found", "Not Found")
        owner, repo, rest = parts[1], parts[2], parts[3:]
        if rest[0] == "pulls" and len(rest) == 2 and method == "GET":
            pull = self.pulls.get((owner, repo, int(rest[1]))) if rest[1].isdigit() else None
            return _json("200 OK", pull) if pull else _error("404 Not Found", "Not Found")
        if rest[0] != "issues" or len(rest) != 3:
            return _error("404 Not Found", "Not Found")
        if rest[1] == "comments" and method == "PATCH" and rest[2].isdigit():
            return self._update(owner, repo, int(rest[2]), raw, login)
        if rest[2] == "labels" and method == "GET" and rest[1].isdigit() and (owner, repo, int(rest[1])) in self.pulls:
            return _json("200 OK", self.pulls[(owner, repo, int(rest[1]))]["labels"])
        if rest[2] != "comments" or not rest[1].isdigit() or (owner, repo, int(rest[1])) not in self.pulls:
            return _error("404 Not Found", "Not Found")
        number = int(rest[1])
        if method == "GET":
            return self._list(owner, repo, number, parse_qs(query))
        if method == "POST":
            return self._create(owner, repo, number, raw, login, kind)
        return _error("404 Not Found", "Not Found")

    def _user_id(self, login: str) -> int:
        return 5000 + sum(login.encode())

    def _body(self, raw: bytes, docs: str) -> str | Response:
        try:
            value = json.loads(raw) if raw else None
        except ValueError:
            return _error("400 Bad Request", "Problems parsing JSON", docs)
        body = value.get("body") if isinstance(value, dict) else None
        if not isinstance(body, str):
            return _error("422 Unprocessable Entity", 'Invalid request.\n\n"body" wasn\'t supplied.', docs)
        if len(body) > MAX_BODY_CHARS:
            too_long = {
                "resource": "IssueComment",
                "code": "custom",
                "field": "body",
                "message": f"body is too long (maximum is {MAX_BODY_CHARS} characters)",
            }
            return _error("422 Unprocessable Entity", "Validation Failed", docs, [too_long])
        return body

    def _public(self, comment: dict[str, Any]) -> dict[str, Any]:
        owner, repo, number, ident = comment["owner"], comment["repo"], comment["issue"], comment["id"]
        return {
            "id": ident,
            "node_id": f"IC_fake{ident}",
            "url": f"{self.base_url}/repos/{owner}/{repo}/issues/comments/{ident}",
            "html_url": f"{self.base_url}/{owner}/{repo}/pull/{number}#issuecomment-{ident}",
            "issue_url": f"{self.base_url}/repos/{owner}/{repo}/issues/{number}",
            "body": comment["body"],
            "user": {"login": comment["login"], "id": self._user_id(comment["login"]), "type": comment["type"]},
            "created_at": comment["created_at"],
            "updated_at": comment["updated_at"],
            "author_association": "MEMBER" if comment["login"] in self.maintainers else "CONTRIBUTOR",
        }

    def _list(self, owner: str, repo: str, number: int, query: dict[str, list[str]]) -> Response:
        def number_of(name: str, default: int) -> int:
            values = query.get(name, [])
            return int(values[0]) if values and values[0].isdigit() else default

        per_page = max(1, min(number_of("per_page", 30), 100, self.max_per_page))
        page = max(1, number_of("page", 1))
        found = self.comments_of(owner, repo, number)
        last = max(1, -(-len(found) // per_page))
        chosen = found[(page - 1) * per_page : page * per_page]
        base = f"{self.base_url}/repositories/{self._repo_ids[(owner, repo)]}/issues/{number}/comments"
        links = []
        if page < last:
            links += [f'<{base}?per_page={per_page}&page={page + 1}>; rel="next"']
            links += [f'<{base}?per_page={per_page}&page={last}>; rel="last"']
        if page > 1:
            links += [f'<{base}?per_page={per_page}&page={page - 1}>; rel="prev"']
            links += [f'<{base}?per_page={per_page}&page=1>; rel="first"']
        headers = [("Link", ", ".join(links))] if links else []
        return _json("200 OK", [self._public(c) for c in chosen], headers)

    def _create(self, owner: str, repo: str, number: int, raw: bytes, login: str, kind: str) -> Response:
        body = self._body(raw, "https://docs.github.com/rest/issues/comments#create-an-issue-comment")
        if not isinstance(body, str):
            return body
        now = _now()
        comment = {"id": self._next_id, "owner": owner, "repo": repo, "issue": number, "body": body}
        comment |= {"login": login, "type": kind, "created_at": now, "updated_at": now}
        self._next_id += 1
        self.comments.append(comment)
        public = self._public(comment)
        return _json("201 Created", public, [("Location", public["url"])])

    def _update(self, owner: str, repo: str, ident: int, raw: bytes, login: str) -> Response:
        found = [c for c in self.comments if (c["owner"], c["repo"], c["id"]) == (owner, repo, ident)]
        if not found:
            return _error("404 Not Found", "Not Found")
        comment = found[0]
        if comment["login"] != login and login not in self.maintainers:
            return _error("403 Forbidden", "Must have admin rights to Repository.")
        body = self._body(raw, "https://docs.github.com/rest/issues/comments#update-an-issue-comment")
        if not isinstance(body, str):
            return body
        comment["body"], comment["updated_at"] = body, _now()
        return _json("200 OK", self._public(comment))


@contextmanager
def serving(**kwargs: Any) -> Iterator[FakeGitHub]:
    """Run the fake on 127.0.0.1 (a free port) for the duration of the block."""
    fake = FakeGitHub(**kwargs)
    with served(fake) as fake.base_url:
        yield fake
