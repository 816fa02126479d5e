"""FAKE GitBucket, for tests only: GitBucket itself cannot run on this machine
(its WAR is only published where this machine cannot reach).

Shaped on GitBucket 4.46's own source (shared/reference/integration-facts.md §1):
REST v3 under /api/v3 with Basic auth (401 "Bad credentials"), repository
create/get with GitBucket's odd answers (an existing name: 200 with a message;
an invalid body: 404), webhooks with the unique (owner, repo, URL) key that
makes a duplicate a 500, and real git over smart HTTP under /git/ served by
git's own `git http-backend`. Failures can be injected (`fail_next`).

Run as a program (`python fake_gitbucket.py`, the image
offline/images/gitbucket-fake) it also keeps its accounts where GitBucket does, in
the ACCOUNT table of the database named by GITBUCKET_DB_URL/USER/PASSWORD, with
root seeded as SHA-1("root"), and checks passwords the way GitBucket does: the
e2e stack can then run the real stack's GitBucket wiring against it.
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
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

_REPO_NAME = re.compile(r"^[a-zA-Z0-9\-+_.]+$")
_EVENTS = {"push", "pull_request", "create", "delete", "issues", "issue_comment", "gollum", "fork"}
Response = tuple[str, list[tuple[str, str]], bytes]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Accounts(Protocol):
    def check(self, user: str, password: str) -> bool: ...


@dataclass
class FakeGitBucket:
    root: Path
    user: str = "root"
    password: str = "fake-root-password"
    accounts: Accounts | None = None  # None: only user/password above
    base_url: str = ""
    hooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _failures: list[tuple[int, str | None]] = field(default_factory=list)
    _next_hook_id: int = 1

    def fail_next(self, count: int, status: int = 500, method: str | None = None) -> None:
        """Answer the next `count` requests (of `method`, if given) with `status`."""
        self._failures.extend([(status, method)] * count)

    def repo_dir(self, owner: str, name: str) -> Path:
        return self.root / owner / f"{name}.git"

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
        if path == "/api/v3":
            return _json("200 OK", {"rate_limit_url": f"{self.base_url}/api/v3/rate_limit"})
        if not self._authorized(environ):
            if path.startswith("/git/"):
                return "401 Unauthorized", [("WWW-Authenticate", 'Basic realm="GitBucket"')], b""
            return _json("401 Unauthorized", {"message": "Bad credentials"})
        if path.startswith("/git/"):
            return self._git(environ, path[len("/git") :])
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        return self._api(method, path, body)

    def _authorized(self, environ: dict[str, Any]) -> bool:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        if self.accounts is not None:
            return user == self.user and self.accounts.check(user, password)
        return (user, password) == (self.user, self.password)

    def _repo_json(self, owner: str, name: str) -> dict[str, Any]:
        return {
            "id": 0,  # 4.46.1 answers a dummy id
            "name": name,
            "full_name": f"{owner}/{name}",
            "private": True,
            "default_branch": "main",
            "owner": {"login": owner},
            "clone_url": f"{self.base_url}/git/{owner}/{name}.git",
            "html_url": f"{self.base_url}/{owner}/{name}",
        }

    def _api(self, method: str, path: str, raw: bytes) -> Response:
        parts = path.removeprefix("/api/v3").strip("/").split("/")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return _json("404 Not Found", {"message": "Not Found"})
        if method == "POST" and parts == ["user", "repos"]:
            name = body.get("name", "")
            if not isinstance(name, str) or not _REPO_NAME.match(name) or len(name) > 100 or name[0] in "_-":
                return _json("404 Not Found", {"message": "Not Found"})
            if self.repo_dir(self.user, name).exists():
                return _json(
                    "200 OK",
                    {
                        "message": "A repository with this name already exists on this account",
                        "documentation_url": "https://developer.github.com/v3/repos/#create",
                    },
                )
            target = self.repo_dir(self.user, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(target)], check=True)
            subprocess.run(["git", "-C", str(target), "config", "http.receivepack", "true"], check=True)
            return _json("200 OK", self._repo_json(self.user, name))
        if len(parts) == 3 and parts[0] == "repos" and method == "GET":
            owner, name = parts[1], parts[2]
            if not self.repo_dir(owner, name).exists():
                return _json("404 Not Found", {"message": "Not Found"})
            return _json("200 OK", self._repo_json(owner, name))
        if len(parts) >= 4 and parts[0] == "repos" and parts[3] == "hooks":
            return self._hooks(method, f"{parts[1]}/{parts[2]}", parts[4:], body)
        return _json("404 Not Found", {"message": "Not Found"})

    def _hooks(self, method: str, repo: str, rest: list[str], body: dict[str, Any]) -> Response:
        if not self.repo_dir(*repo.split("/")).exists():
            return _json("404 Not Found", {"message": "Not Found"})
        hooks = self.hooks.setdefault(repo, [])
        if method == "GET" and not rest:
            return _json("200 OK", hooks)
        if method in ("POST", "PATCH"):
            config = body.get("config", {})
            if config.get("content_type", "form") not in ("form", "json"):
                return _json("404 Not Found", {"message": "Not Found"})
            events = body.get("events", [])
            if not set(events) <= _EVENTS:
                return _json("500 Internal Server Error", {"message": f"unknown event {events}"})
        if method == "POST" and not rest:
            if any(h["config"]["url"] == body["config"]["url"] for h in hooks):
                # The WEB_HOOK table's unique key on (USER_NAME, REPOSITORY_NAME, URL).
                return _json("500 Internal Server Error", {"message": "Unique index or primary key violation"})
            hook = {
                "type": "Repository",
                "id": self._next_hook_id,
                "name": "web",
                "active": True,
                "events": body["events"],
                "config": body["config"],
                "url": f"/api/v3/{repo}/hooks/{self._next_hook_id}",
            }
            self._next_hook_id += 1
            hooks.append(hook)
            return _json("200 OK", hook)
        if method == "PATCH" and len(rest) == 1:
            for hook in hooks:
                if str(hook["id"]) == rest[0]:
                    hook.update(events=body["events"], config=body["config"])
                    return _json("200 OK", hook)
        return _json("404 Not Found", {"message": "Not Found"})

    def _git(self, environ: dict[str, Any], path_info: str) -> Response:
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
            "REMOTE_USER": self.user,
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


def _json(status: str, value: Any) -> Response:
    return status, [("Content-Type", "application/json")], json.dumps(value).encode()


@contextmanager
def serving(root: Path, **kwargs: Any) -> Iterator[FakeGitBucket]:
    """Run the fake on 127.0.0.1 (a free port) for the duration of the block."""
    fake = FakeGitBucket(root=root, **kwargs)
    server = make_server("127.0.0.1", 0, fake, server_class=_ThreadingServer, handler_class=_QuietHandler)
    fake.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


class DatabaseAccounts:
    """GitBucket's ACCOUNT table on MySQL, with its password check (AccountService)."""

    def __init__(self, jdbc_url: str, user: str, password: str) -> None:
        import pymysql  # only the containerised fake needs it

        match = re.match(r"^jdbc:mysql://([^:/]+)(?::(\d+))?/([A-Za-z0-9_]+)", jdbc_url)
        if not match:
            raise ValueError(f"GITBUCKET_DB_URL {jdbc_url!r} is not a jdbc:mysql:// URL")
        host, port, database = match.group(1), int(match.group(2) or 3306), match.group(3)
        for _ in range(120):
            try:
                self.conn = pymysql.connect(
                    host=host, port=port, user=user, password=password, database=database, autocommit=True
                )
                break
            except pymysql.err.OperationalError:
                time.sleep(1)
        else:
            raise RuntimeError(f"cannot reach the database {host}:{port}/{database}")
        with self.conn.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS ACCOUNT (USER_NAME VARCHAR(100) PRIMARY KEY, "
                "PASSWORD VARCHAR(200) NOT NULL)"
            )
            cursor.execute("INSERT IGNORE INTO ACCOUNT VALUES ('root', SHA1('root'))")
        self.lock = threading.Lock()

    def check(self, user: str, password: str) -> bool:
        with self.lock, self.conn.cursor() as cursor:
            self.conn.ping(reconnect=True)
            if not cursor.execute("SELECT PASSWORD FROM ACCOUNT WHERE USER_NAME = %s", (user,)):
                return False
            (stored,) = cursor.fetchone()
        if stored.startswith("$pbkdf2-sha256$"):
            _, _, iterations, salt, digest = stored.split("$")
            computed = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations), 32)
            return hmac.compare_digest(base64.b64encode(computed).decode(), digest)
        return hmac.compare_digest(hashlib.sha1(password.encode()).hexdigest(), stored)  # noqa: S324


def main() -> None:
    home = Path(os.environ.get("GITBUCKET_HOME", "/gitbucket"))
    accounts = DatabaseAccounts(
        os.environ["GITBUCKET_DB_URL"], os.environ["GITBUCKET_DB_USER"], os.environ["GITBUCKET_DB_PASSWORD"]
    )
    fake = FakeGitBucket(root=home / "repositories", accounts=accounts)
    fake.root.mkdir(parents=True, exist_ok=True)
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
