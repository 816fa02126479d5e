"""The acceptance tier (scripts/verify.sh) run on the e2e stack: one set of checks, two callers."""

from __future__ import annotations

import secrets
from pathlib import Path

from pulumi import automation as auto

from tests.support import e2e_stack as e2e


def verified(stack: auto.Stack, scratch: Path, *pytest_args: str) -> str:
    """Run the checks (all, or those `pytest_args` select); all must pass or skip. Returns the report,
    which, like the command's output, must hold no secret output of the stack."""
    report = scratch / f"verify-{secrets.token_hex(3)}.md"
    status, output, text = e2e.verify(stack, report, *pytest_args)
    assert text, f"no report written:\n{output[-4000:]}"
    secret_outputs = {k: str(v.value) for k, v in stack.outputs().items() if v.secret}
    leaked = sorted(k for k, value in secret_outputs.items() if value in output or value in text)
    assert not leaked, f"scripts/verify.sh printed secrets: {leaked}"
    assert status == 0, output[-6000:]
    assert "| FAILED |" not in text, text
    return text
