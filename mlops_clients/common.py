"""Errors, environment reading, bounded subprocesses and waiting shared by the service clients.

Standard library only at import time: the program imports `seed_files` at plan time
(components/files.py), where no client library may be loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, NoReturn


class ServiceError(RuntimeError):
    """A service answered something unexpected: names the service, the call and the answer."""

    def __init__(self, service: str, call: str, answer: str) -> None:
        self.service, self.call, self.answer = service, call, answer
        super().__init__(f"{service}: {call} failed: {answer}")


class InputError(ValueError):
    """Bad input given to a client (a name the service would reject, a missing variable)."""


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise InputError(f"environment variable {name} is not set")
    return value


def run_cli(actions: dict[str, Callable[[], Any]], argv: list[str] | None = None) -> NoReturn:
    """Tiny `python -m` entry point: one action name, result printed as JSON."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in actions:
        print(f"usage: {sys.argv[0]} {{{'|'.join(actions)}}}", file=sys.stderr)
        sys.exit(2)
    try:
        result = actions[args[0]]()
    except (ServiceError, InputError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(result, sort_keys=True))
    sys.exit(0)


def http_session(user: str | None = None, password: str | None = None, total_retries: int = 8) -> Any:
    """A requests session that retries while a service starts.

    Refused connections are retried for every method (nothing was sent); error
    answers (500, 502-504) only for idempotent methods: a POST that failed may
    have been applied, so it is looked up again on the next run instead.
    """
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
        total=total_retries,
        connect=total_retries,
        backoff_factor=0.5,
        backoff_max=10,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"}),
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    if user is not None and password is not None:
        session.auth = (user, password)
    return session


def run_process(
    command: list[str],
    *,
    service: str,
    call: str,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    ok: Collection[int] = (0,),
) -> subprocess.CompletedProcess[str]:
    """Run a command that talks to a service (or to git): bounded in time, its exit code checked.

    A command still running after `timeout` seconds is killed with everything it
    started (its own process group: git's remote helpers too) and becomes a
    ServiceError naming the call; so does an exit code not in `ok`. Output is text,
    undecodable bytes kept as surrogates (os.fsencode gives a path's bytes back).
    """
    try:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="surrogateescape",
            start_new_session=True,
        )
    except OSError as error:
        raise ServiceError(service, call, f"cannot run {command[0]}: {error}") from error
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        raise ServiceError(service, call, f"no answer within {timeout:g} s: stopped") from None
    except BaseException:
        _stop(process)
        raise
    if process.returncode not in ok:
        raise ServiceError(service, call, stderr.strip()[-300:] or f"exit code {process.returncode}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _stop(process: subprocess.Popen[str]) -> None:
    """Kill a command and what it started (start_new_session made it a process group leader)."""
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):  # a grandchild left the group, holds a pipe
        process.communicate(timeout=5)  # reap it, close the pipes


# Variables that point git at a repository (`git rev-parse --local-env-vars`). Set when the
# program runs from a git hook, they would make every call below act on that repository.
_GIT_REPOSITORY_VARIABLES = frozenset(
    {
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_OBJECT_DIRECTORY",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_GRAFT_FILE",
        "GIT_INDEX_FILE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_REPLACE_REF_BASE",
        "GIT_PREFIX",
        "GIT_INTERNAL_SUPER_PREFIX",
        "GIT_SHALLOW_FILE",
        "GIT_COMMON_DIR",
    }
)


def git_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the variables that redirect git, plus `extra`."""
    environment = {name: value for name, value in os.environ.items() if name not in _GIT_REPOSITORY_VARIABLES}
    environment.update(extra or {})
    return environment


# Never part of a seed, whatever git says: git's own data and caches of Python and pytest.
SEED_EXCLUDED_NAMES = frozenset({".git", "__pycache__", ".pytest_cache"})
LOCAL_GIT_TIMEOUT = 60.0  # seconds: git on local files only


def seed_files(source: Path, timeout: float = LOCAL_GIT_TIMEOUT) -> list[Path]:
    """The files a seed of `source` carries: paths relative to it, sorted.

    The one list behind both the plan-time hash (components/files.py) and the push
    (gitbucket.seed_repo), so a seed is re-run exactly when what it pushes changed.

    - `source` inside a git work tree (this project's checkout): the files git
      tracks there, as they are in the work tree. An untracked file never goes,
      ignored (`.env`, local data) or not (a scratch file): commit it to seed it.
    - Otherwise (a copy without .git, as the e2e tests run the project): every
      file that the .gitignore files in `source` (and git's global excludes) keep,
      as git itself decides it (a throwaway repository with `source` as work tree).

    Never anything under .git, __pycache__ or .pytest_cache; only regular files:
    a symbolic link is left out (it could point out of the source).
    """
    if not source.is_dir():
        raise InputError(f"seed source {source} is not a directory")
    root = source.resolve()
    inside = run_process(
        ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
        service="git",
        call=f"find the git work tree of {source}",
        timeout=timeout,
        env=git_environment({"LC_ALL": "C"}),  # untranslated, for the test below
        ok=(0, 128),
    )
    if inside.returncode == 0 and inside.stdout.strip() == "true":
        listed = run_process(
            ["git", "-C", str(root), "ls-files", "-z", "--cached"],
            service="git",
            call=f"list the files git tracks in {source}",
            timeout=timeout,
            env=git_environment(),
        ).stdout
    elif "not a git repository" in inside.stderr:
        with tempfile.TemporaryDirectory(prefix="mlops-seed-list-") as scratch:
            git_dir = Path(scratch) / "git"
            run_process(
                ["git", "init", "--quiet", "--bare", str(git_dir)],
                service="git",
                call="create a scratch repository",
                timeout=timeout,
                env=git_environment(),
            )
            scratch_git = ["git", f"--git-dir={git_dir}", f"--work-tree={root}", "-C", str(root)]
            listed = run_process(
                [*scratch_git, "ls-files", "-z", "--others", "--exclude-standard"],
                service="git",
                call=f"list the files the .gitignore files of {source} keep",
                timeout=timeout,
                env=git_environment(),
            ).stdout
    else:  # e.g. a repository git refuses to read ("dubious ownership"): never guess
        answer = inside.stderr.strip()[-300:] or f"answered {inside.stdout.strip()!r}"
        raise ServiceError("git", f"find the git work tree of {source}", answer)
    files = set()
    for name in filter(None, listed.split("\0")):
        relative = Path(name)
        path = root / relative
        if (
            SEED_EXCLUDED_NAMES.isdisjoint(relative.parts)
            and not path.is_symlink()
            and path.is_file()
            and path.resolve().is_relative_to(root)  # not reached through a linked directory
        ):
            files.add(relative)
    return sorted(files)
