"""The two ways the job fails: bad configuration (exit 2) and a failed step (exit 1)."""

from __future__ import annotations


class ConfigError(Exception):
    """The environment does not describe a runnable job; the message lists every problem."""


class PipelineError(Exception):
    """A step failed; ``step`` names it (``ERROR [<step>] <message>``)."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message
