"""GitBucket: the root password, the automation account, repositories, their seeded
content, collaborators and push webhooks.

GitBucket has no API to change a password, so the hash is written where
GitBucket keeps it, in its own database (ACCOUNT.PASSWORD), in the PBKDF2
format GitBucket itself writes (StringUtil.pbkdf2_sha256): root's at first, an
existing account's when its password is rotated. Accounts are created, and
repositories, collaborators and webhooks managed, through its REST API v3 as
root (Basic auth: tokens cannot be made by API), content through git over smart
HTTP. Everything is look-up-then-create.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql

from mlops_clients import contracts, mysql
from mlops_clients.common import (
    InputError,
    ServiceError,
    env,
    git_environment,
    http_session,
    run_cli,
    run_process,
    seed_files,
)
from mlops_clients.contracts import HOOK_EVENTS, GitBucketAction, GitBucketEnv, HookEvent, MySQLEnv

SERVICE = "gitbucket"
PBKDF2_ITERATIONS = 100_000
MAX_PASSWORD_LENGTH = 40  # GitBucket's account form refuses longer ones


def pbkdf2_hash(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    salt = salt if salt is not None else os.urandom(32)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, dklen=32)
    return f"$pbkdf2-sha256${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    """GitBucket's check (AccountService.defaultAuthentication): PBKDF2, or a legacy SHA-1 hex."""
    if stored.startswith("$pbkdf2-sha256$"):
        try:
            _, _, iterations, salt, _digest = stored.split("$")
            expected = pbkdf2_hash(password, base64.b64decode(salt), int(iterations))
        except ValueError:
            return False
        return hmac.compare_digest(expected, stored)
    # Legacy format GitBucket still accepts (and seeds root with): read, never written.
    return hmac.compare_digest(hashlib.sha1(password.encode()).hexdigest(), stored)  # noqa: S324


def set_account_password(conn: pymysql.connections.Connection, user: str, password: str) -> dict[str, Any]:
    """Set a GitBucket account's password unless it already is that password."""
    check_password(password)
    with conn.cursor() as cursor:
        try:
            found = cursor.execute("SELECT PASSWORD FROM ACCOUNT WHERE USER_NAME = %s", (user,))
        except pymysql.err.MySQLError as error:
            raise ServiceError(SERVICE, "read ACCOUNT", f"{error} (has GitBucket created its schema?)") from error
        if not found:
            raise ServiceError(SERVICE, f"find account '{user}'", "no such account")
        (stored,) = cursor.fetchone()
        if password_matches(password, stored):
            return {"user": user, "changed": False}
        try:
            updated = cursor.execute(
                "UPDATE ACCOUNT SET PASSWORD = %s WHERE USER_NAME = %s", (pbkdf2_hash(password), user)
            )
        except pymysql.err.MySQLError as error:
            raise ServiceError(SERVICE, "update ACCOUNT", str(error)) from error
        if updated != 1:  # a new salt always changes the row: none changed, the account went meanwhile
            raise ServiceError(SERVICE, f"update account '{user}'", f"{updated} rows changed, not 1")
    return {"user": user, "changed": True}


# The permissions GitBucket's collaborator API takes (api/AddACollaborator.scala) and the
# roles it stores and answers with (ADMIN, DEVELOPER, GUEST); GitHub's names too.
COLLABORATOR_PERMISSIONS = ("admin", "push", "pull")
_PERMISSION_OF_ROLE = {
    "ADMIN": "admin",
    "DEVELOPER": "push",
    "GUEST": "pull",
    "admin": "admin",
    "maintain": "admin",
    "write": "push",
    "push": "push",
    "read": "pull",
    "pull": "pull",
}


def check_repo_name(name: str) -> None:
    try:
        contracts.check_repo_name(name)
    except ValueError as error:
        raise InputError(str(error)) from error


def check_user_name(name: str) -> None:
    try:
        contracts.check_user_name(name)
    except ValueError as error:
        raise InputError(str(error)) from error


# The stack's rule for the passwords it sets (components/config.py refuses others in stack
# config): they also travel in git and Airflow connection URLs and Jenkins credentials.
_PASSWORD = re.compile(r"[\x21-\x7e]+", re.ASCII)


def check_password(password: str) -> None:
    if not 8 <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InputError(f"the GitBucket password must be 8 to {MAX_PASSWORD_LENGTH} characters long")
    if not _PASSWORD.fullmatch(password):
        raise InputError("the GitBucket password may hold printable ASCII characters only (no spaces or accents)")


class LeftoverRepositoryFolder(ServiceError):
    """GitBucket refused to create a repository whose folder is already on its data volume."""


# GitBucket 4.46.1 (RepositoryCreationService.scala:86-195): JGit refuses to create a repository
# over an existing folder, the database row is rolled back, and POST /user/repos answers 500.
_LEFTOVER_HINT = (
    "; the repository is not in GitBucket's database, so its folder repositories/{owner}/{name}.git "
    "probably exists on GitBucket's data volume (mounted at /gitbucket), left from an earlier "
    "database (a volume kept while the database was made anew): GitBucket will not create a "
    "repository over it. Restore the database that goes with the volume, or move that folder (and "
    "{name}.wiki.git) out of the volume, then run again"
)
# GitBucket 4.46.1 lists webhooks joined to their events (WebHookService.scala:48-113): one with
# no event is hidden, its URL still taken (a second one is a key violation, 500).
_HIDDEN_HOOK_HINT = (
    "; no webhook to {url} is listed, so one probably exists with no event (GitBucket hides those, "
    "from its API and settings page, and refuses a second one with their URL). Delete it signed in "
    "as the repository's owner or an admin: {base}/{owner}/{repo}/settings/hooks/delete?url=<the URL, "
    "encoded>, then run again"
)


class GitBucketAPI:
    """The few REST v3 calls the stack needs, with the answers GitBucket really gives."""

    def __init__(self, base_url: str, user: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.user = user
        # GitBucket decodes Basic credentials as UTF-8 (AuthUtil.decodeAuthHeader); requests
        # encodes a str as latin-1, so a non-ASCII password would never log in: bytes it is.
        credentials = (user.encode(), password.encode())
        self.session = http_session()
        self.session.auth = credentials

    def _call(self, method: str, path: str, expect: tuple[int, ...], **kwargs: Any) -> Any:
        url = f"{self.base_url}/api/v3{path}"
        try:
            response = self.session.request(method, url, timeout=30, **kwargs)
        except OSError as error:  # requests' ConnectionError is an OSError
            raise ServiceError(SERVICE, f"{method} {path}", str(error)) from error
        if response.status_code not in expect:
            raise ServiceError(SERVICE, f"{method} {path}", f"HTTP {response.status_code}: {response.text[:300]}")
        return response

    def get_user(self, login: str) -> dict[str, Any] | None:
        """The account (GitBucket's ApiUser), or None."""
        response = self._call("GET", f"/users/{login}", (200, 404))
        return None if response.status_code == 404 else dict(response.json())

    def whoami(self) -> dict[str, Any]:
        """The account these credentials log in as."""
        return dict(self._call("GET", "/user", (200,)).json())

    def create_user(
        self, login: str, password: str, email: str, *, admin: bool = False, full_name: str | None = None
    ) -> dict[str, Any]:
        """POST /api/v3/admin/users (admins only; GitBucket's ApiUserControllerBase). Not idempotent:
        an existing login or mail address is a database key violation, answered with a 500."""
        body = {"login": login, "password": password, "email": email, "fullName": full_name or login, "isAdmin": admin}
        try:
            answer = dict(self._call("POST", "/admin/users", (200,), json=body).json())
        except ServiceError as error:
            if not error.answer.startswith("HTTP 500"):
                raise
            hint = f" (a suspended account '{login}', or another account with the mail address {email}?)"
            raise ServiceError(SERVICE, error.call, error.answer + hint) from error
        if answer.get("login") != login:
            raise ServiceError(SERVICE, "POST /admin/users", f"answered {str(answer)[:300]}")
        return answer

    def collaborator_permission(self, owner: str, repo: str, user: str) -> str | None:
        """`user`'s permission on the repository ("admin", "push" or "pull"), None if not a collaborator."""
        call = f"/repos/{owner}/{repo}/collaborators/{user}/permission"
        response = self._call("GET", call, (200, 404))
        if response.status_code == 404:
            return None
        role = response.json().get("permission")
        if role not in _PERMISSION_OF_ROLE:
            raise ServiceError(SERVICE, f"GET {call}", f"unknown permission {role!r}")
        return _PERMISSION_OF_ROLE[role]

    def ensure_collaborator(self, owner: str, repo: str, user: str, permission: str = "push") -> dict[str, Any]:
        """Make `user` a collaborator with exactly `permission`. GitBucket's PUT inserts a row
        (a second one is a key violation), so a collaborator with another permission is
        removed first, then added again."""
        if permission not in COLLABORATOR_PERMISSIONS:
            raise InputError(f"'{permission}' is not a collaborator permission ({', '.join(COLLABORATOR_PERMISSIONS)})")
        result = {"repo": f"{owner}/{repo}", "user": user, "permission": permission}
        current = self.collaborator_permission(owner, repo, user)
        if current == permission:
            return {**result, "changed": False}
        path = f"/repos/{owner}/{repo}/collaborators/{user}"
        if current is not None:
            self._call("DELETE", path, (204,))
        self._call("PUT", path, (204,), json={"permission": permission})
        after = self.collaborator_permission(owner, repo, user)
        if after != permission:
            raise ServiceError(SERVICE, f"PUT {path}", f"the permission is {after!r} afterwards, not {permission!r}")
        return {**result, "changed": True}

    def get_repo(self, owner: str, name: str) -> dict[str, Any] | None:
        response = self._call("GET", f"/repos/{owner}/{name}", (200, 404))
        return None if response.status_code == 404 else dict(response.json())

    def ensure_repo(self, name: str, description: str, private: bool = True) -> dict[str, Any]:
        """Create the caller's repository unless it exists. GitBucket answers 200 with a
        message (not an error status) when it exists, and 404 to a body it refuses."""
        check_repo_name(name)
        existing = self.get_repo(self.user, name)
        if existing is not None:
            found = {"repo": existing["full_name"], "created": False, "clone_url": existing["clone_url"]}
            return found | {"private": existing.get("private") is True}
        body = {"name": name, "description": description, "private": private, "auto_init": False}
        try:
            answer = self._call("POST", "/user/repos", (200, 201), json=body).json()
        except ServiceError as error:
            if not error.answer.startswith("HTTP 500") or self.get_repo(self.user, name) is not None:
                raise
            hint = _LEFTOVER_HINT.format(owner=self.user, name=name)
            raise LeftoverRepositoryFolder(SERVICE, error.call, error.answer + hint) from error
        if "full_name" not in answer:
            raise ServiceError(SERVICE, "POST /user/repos", str(answer.get("message", answer))[:300])
        return {"repo": answer["full_name"], "created": True, "clone_url": answer["clone_url"], "private": private}

    def webhooks(self, owner: str, repo: str) -> list[dict[str, Any]]:
        """The hooks GitBucket lists: those with at least one event."""
        return list(self._call("GET", f"/repos/{owner}/{repo}/hooks", (200,)).json())

    def _hook_to(self, owner: str, repo: str, url: str) -> dict[str, Any] | None:
        return next((h for h in self.webhooks(owner, repo) if h.get("config", {}).get("url") == url), None)

    def ensure_webhook(self, owner: str, repo: str, url: str, events: tuple[str, ...] = HOOK_EVENTS) -> dict[str, Any]:
        """One hook per URL (GitBucket has a unique key on it): update the one found, else create.

        Never one with no event: GitBucket hides it, yet keeps its URL taken. Such a hidden
        hook (made by hand) makes the creation fail (500): the error says how to remove it."""
        if not events:
            raise InputError("a webhook needs at least one event (GitBucket hides one with none)")
        body = {
            "name": "web",
            "active": True,
            "events": list(events),
            "config": {"url": url, "content_type": "json", "insecure_ssl": "0"},
        }
        hook = self._hook_to(owner, repo, url)
        changed = hook is None
        if hook is None:
            try:
                created = self._call("POST", f"/repos/{owner}/{repo}/hooks", (200, 201), json=body).json()
                return {"hook": created["id"], "changed": True}
            except ServiceError as error:
                if not error.answer.startswith("HTTP 500"):
                    raise
                hook = self._hook_after_refusal(owner, repo, url, error)
        if sorted(hook.get("events", [])) == sorted(events) and hook.get("config", {}).get("content_type") == "json":
            return {"hook": hook["id"], "changed": changed}
        self._call("PATCH", f"/repos/{owner}/{repo}/hooks/{hook['id']}", (200,), json=body)
        return {"hook": hook["id"], "changed": True}

    def _hook_after_refusal(self, owner: str, repo: str, url: str, failed: ServiceError) -> dict[str, Any]:
        """After a refused creation: the hook, if it was created after all (the answer lost);
        else the likely cause, a hidden hook with that URL, named with its fix."""
        hook = self._hook_to(owner, repo, url)
        if hook is None:
            hint = _HIDDEN_HOOK_HINT.format(url=url, base=self.base_url, owner=owner, repo=repo)
            raise ServiceError(SERVICE, failed.call, failed.answer + hint)
        return hook


def _check_plain_account(answer: dict[str, Any], user: str, call: str) -> None:
    """The account is `user`, a user (not a group) and no site admin."""
    if answer.get("login") != user:
        raise ServiceError(SERVICE, call, f"answered the account {answer.get('login')!r}, not '{user}'")
    if answer.get("type") != "User":
        raise ServiceError(SERVICE, call, f"'{user}' is a {answer.get('type')}, not a user account")
    if answer.get("site_admin") is not False:
        raise ServiceError(
            SERVICE,
            call,
            f"account '{user}' is a site admin: the automation account must not be one (remove its "
            "administrator right in GitBucket's System administration > User management)",
        )


def ensure_account(
    api: GitBucketAPI,
    user: str,
    password: str,
    *,
    write_password: Callable[[str, str], dict[str, Any]],
    email: str | None = None,
) -> dict[str, Any]:
    """A plain account (no site admin) `user` that logs in with `password`.

    Created by `api` (an admin) if it does not exist; if it does, its password is set
    with `write_password(user, password)` (GitBucket has no API for it: the stack writes
    the hash in GitBucket's database, `set_account_password`), which changes nothing
    when it is already that password. An existing account of that name that is a site
    admin or a group is refused, never used. Last, the account logs in with the
    password, as Jenkins and Airflow will.
    """
    check_user_name(user)
    check_password(password)
    existing = api.get_user(user)
    if existing is None:
        created = api.create_user(user, password, email or f"{user}@localhost")
        _check_plain_account(created, user, "POST /admin/users")
        result = {"user": user, "created": True, "password_changed": False}
    else:
        _check_plain_account(existing, user, f"GET /users/{user}")
        changed = bool(write_password(user, password)["changed"])
        result = {"user": user, "created": False, "password_changed": changed}
    _check_plain_account(GitBucketAPI(api.base_url, user, password).whoami(), user, "GET /user")
    return result


# Credentials reach git through its credential protocol, read from the environment
# at run time: never in a URL, a command line or git's config on disk.
_CREDENTIAL_HELPER = '!f() { echo "username=${GIT_USERNAME}"; echo "password=${GIT_PASSWORD}"; }; f'
GIT_TIMEOUT = 300.0  # seconds one git call may take (a clone or a push of the seed), then it is stopped
# A transfer slower than 1 kB/s for 30 s is given up by git itself (a stalled server).
_LOW_SPEED = ("-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=30")


def run_git(
    args: list[str],
    cwd: Path | None,
    user: str,
    password: str,
    *,
    timeout: float = GIT_TIMEOUT,
    ok: tuple[int, ...] = (0,),
    call: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """git with credentials given through its credential protocol (see above).

    Bounded by `timeout` and by git's own low-speed limit; an exit code not in `ok`
    or a timeout is a ServiceError naming `call` (by default `git <subcommand>`).
    """
    environment = git_environment(
        {
            "GIT_USERNAME": user,
            "GIT_PASSWORD": password,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "mlops-stack",
            "GIT_AUTHOR_EMAIL": "mlops-stack@localhost",
            "GIT_COMMITTER_NAME": "mlops-stack",
            "GIT_COMMITTER_EMAIL": "mlops-stack@localhost",
        }
    )
    command = ["git", "-c", "credential.helper=", "-c", f"credential.helper={_CREDENTIAL_HELPER}", *_LOW_SPEED, *args]
    return run_process(
        command,
        service=SERVICE,
        call=call or f"git {args[0]}",
        timeout=timeout,
        cwd=cwd,
        env=environment,
        ok=ok,
    )


def seed_repo(
    clone_url: str,
    user: str,
    password: str,
    source: Path,
    branch: str = "main",
    message: str = "Seed from mlops-stack",
    timeout: float = GIT_TIMEOUT,
) -> dict[str, Any]:
    """Write `source`'s seed files onto the branch, as one new commit on top of what is there.

    The files are those of `seed_files` (what git tracks, or what the .gitignore
    files keep outside a git work tree), the list the plan-time hash is made of.
    Files of the seed are added or updated; nothing else in the repository is
    deleted, so what the pipeline commits (DVC pointers) and files added in
    GitBucket survive a re-seed. History is never rewritten: a push that is not
    a fast-forward (someone pushed meanwhile) fails instead of forcing. Every git
    call is bounded by `timeout` seconds and its exit code checked.
    """
    if not source.is_dir():
        raise InputError(f"seed source {source} is not a directory")
    files = seed_files(source)
    if not files:
        raise InputError(
            f"seed source {source} has no file to seed (in a git work tree only the files git tracks are seeded)"
        )
    with tempfile.TemporaryDirectory(prefix="mlops-seed-") as work:
        checkout = Path(work) / "repo"

        def git(*args: str, ok: tuple[int, ...] = (0,), call: str | None = None) -> subprocess.CompletedProcess[str]:
            return run_git(list(args), checkout, user, password, timeout=timeout, ok=ok, call=call)

        run_git(
            ["clone", "--quiet", clone_url, str(checkout)],
            None,
            user,
            password,
            timeout=timeout,
            call=f"git clone {clone_url}",
        )
        # --verify --quiet: 0 the branch exists, 1 it does not (an empty repository).
        has_branch = git("rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}", ok=(0, 1)).returncode == 0
        if has_branch:
            git("checkout", "--quiet", "-B", branch, f"origin/{branch}", call=f"git checkout {branch}")
        else:
            git("checkout", "--quiet", "--orphan", branch, call=f"git checkout --orphan {branch}")
        _copy_seed(source, files, checkout)
        listing = Path(work) / "seed-files"
        listing.write_bytes(b"".join(os.fsencode(f) + b"\0" for f in files))
        # Exactly the seed's files, even one a .gitignore of the repository would skip.
        git(
            "--literal-pathspecs",
            "add",
            "--force",
            f"--pathspec-from-file={listing}",
            "--pathspec-file-nul",
            call="git add",
        )
        # --quiet: 0 nothing staged, 1 something is.
        if has_branch and git("diff", "--cached", "--quiet", ok=(0, 1)).returncode == 0:
            return {"branch": branch, "commit": git("rev-parse", "HEAD").stdout.strip(), "changed": False}
        # --no-verify: no hook of this machine's git configuration (core.hooksPath) runs on the seed.
        git("commit", "--quiet", "--no-verify", "-m", message)
        git("push", "--quiet", "--no-verify", "origin", f"HEAD:refs/heads/{branch}", call=f"git push {branch}")
        return {"branch": branch, "commit": git("rev-parse", "HEAD").stdout.strip(), "changed": True}


def _copy_seed(source: Path, files: list[Path], checkout: Path) -> None:
    """Copy the seed's files into the clone, never writing through a symbolic link of the
    clone (its content is GitBucket's: a link could point anywhere on this machine)."""
    for relative in files:
        target = checkout / relative
        for parent in reversed(relative.parents[:-1]):
            if (checkout / parent).is_symlink():
                raise ServiceError(SERVICE, f"write {relative}", f"{parent} is a symbolic link in the repository")
        if target.is_symlink():
            target.unlink()  # replaced by the seed's file
        elif target.is_dir():
            raise ServiceError(SERVICE, f"write {relative}", "it is a directory in the repository")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, target)


def _api_from_env() -> GitBucketAPI:
    return GitBucketAPI(env(GitBucketEnv.URL), env(GitBucketEnv.USER), env(GitBucketEnv.PASSWORD))


def _ensure_repo_from_env() -> dict[str, Any]:
    """Create the repository if needed, then seed it from SEED_SOURCE (a directory)."""
    api = _api_from_env()
    repo = api.ensure_repo(env(GitBucketEnv.REPO_NAME), env(GitBucketEnv.REPO_DESCRIPTION, "managed by mlops-stack"))
    if not os.environ.get(GitBucketEnv.SEED_SOURCE):  # users push to it; never written here
        if not repo["private"]:  # anyone could open a pull request: code run on the Docker host
            raise InputError(
                f"repository {repo['repo']} exists and is public: its pull requests would run code on the "
                "Docker host (jenkins.previewRepo); make it private in its settings, or choose another name"
            )
        return {**repo, "seed": None}
    clone_url = f"{api.base_url}/git/{repo['repo']}.git"  # the host's view, not GitBucket's base URL
    seeded = seed_repo(
        clone_url,
        api.user,
        env(GitBucketEnv.PASSWORD),
        Path(env(GitBucketEnv.SEED_SOURCE)),
        env(GitBucketEnv.SEED_BRANCH, "main"),
    )
    return {**repo, "seed": seeded}


def _ensure_webhook_from_env() -> dict[str, Any]:
    api = _api_from_env()
    names = [name.strip() for name in env(GitBucketEnv.HOOK_EVENTS, ",".join(HOOK_EVENTS)).split(",")]
    unknown = sorted(set(names) - set(HookEvent))
    if unknown:
        raise InputError(
            f"{GitBucketEnv.HOOK_EVENTS}: unknown event(s) {', '.join(unknown)} (known: {', '.join(HookEvent)})"
        )
    return api.ensure_webhook(
        env(GitBucketEnv.REPO_OWNER, api.user),
        env(GitBucketEnv.REPO_NAME),
        env(GitBucketEnv.HOOK_URL),
        tuple(HookEvent(name) for name in names),
    )


def _database_from_env() -> pymysql.connections.Connection:
    """GitBucket's database, as its own MySQL user."""
    return mysql.connect(
        env(MySQLEnv.HOST, "127.0.0.1"),
        int(env(MySQLEnv.PORT, "3306")),
        env(MySQLEnv.DB_USER),
        env(MySQLEnv.DB_PASSWORD),
        database=env(MySQLEnv.DB_NAME),
    )


def _write_password_from_env(user: str, password: str) -> dict[str, Any]:
    with _database_from_env() as conn:
        return set_account_password(conn, user, password)


def _set_root_password_from_env() -> dict[str, Any]:
    return _write_password_from_env("root", env(GitBucketEnv.ROOT_PASSWORD))


def _ensure_account_from_env() -> dict[str, Any]:
    return ensure_account(
        _api_from_env(),
        env(GitBucketEnv.AUTOMATION_USER),
        env(GitBucketEnv.AUTOMATION_PASSWORD),
        write_password=_write_password_from_env,
    )


def _ensure_collaborator_from_env() -> dict[str, Any]:
    api = _api_from_env()
    return api.ensure_collaborator(
        env(GitBucketEnv.REPO_OWNER, api.user),
        env(GitBucketEnv.REPO_NAME),
        env(GitBucketEnv.AUTOMATION_USER),
        env(GitBucketEnv.AUTOMATION_PERMISSION, "push"),
    )


if __name__ == "__main__":
    run_cli(
        {
            GitBucketAction.SET_ROOT_PASSWORD: _set_root_password_from_env,
            GitBucketAction.ENSURE_REPO: _ensure_repo_from_env,
            GitBucketAction.ENSURE_WEBHOOK: _ensure_webhook_from_env,
            GitBucketAction.ENSURE_ACCOUNT: _ensure_account_from_env,
            GitBucketAction.ENSURE_COLLABORATOR: _ensure_collaborator_from_env,
        }
    )
