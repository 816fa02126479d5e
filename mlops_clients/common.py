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
