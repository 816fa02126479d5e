"""Errors, environment reading and waiting shared by the service clients."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
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
