"""A live stack as the acceptance checks see it: its outputs (read with the Pulumi CLI, as a
user reads them), which services it runs, and which of them are stand-ins or fakes.

Which services a stack runs comes from the program's own declarations
(`components.platform.SERVICES`): a service is enabled when its outputs are there.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from components.base import STACK_LABEL
from components.platform import SERVICES
from components.spec import ServiceSpec

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Set by scripts/verify.sh: the stack to check, and where its Pulumi project is.
STACK_VARIABLE = "MLOPS_VERIFY_STACK"
PROJECT_VARIABLE = "MLOPS_VERIFY_PROJECT_DIR"
TIMEOUT = 30  # seconds, for every call to a service

SPECS: dict[str, ServiceSpec] = {spec.name: spec for spec in SERVICES}


class StackUnreadable(RuntimeError):
    pass


def pulumi_json(args: list[str], project_dir: Path) -> dict[str, Any]:
    try:
        done = subprocess.run(["pulumi", *args], cwd=project_dir, capture_output=True, text=True, timeout=120)
    except FileNotFoundError as error:
        raise StackUnreadable("no `pulumi` on PATH (source scripts/env.sh)") from error
    if done.returncode != 0:
        raise StackUnreadable(f"`pulumi {' '.join(args)}` failed: {done.stderr.strip()[-500:]}")
    found = json.loads(done.stdout or "{}")
    return found if isinstance(found, dict) else {}


def pulumi_outputs(stack: str, project_dir: Path, show_secrets: bool) -> dict[str, Any]:
    """`pulumi stack output --json`: with --show-secrets the values, without it "[secret]" marks the secrets."""
    outputs = pulumi_json(
        ["stack", "output", "--json", "--stack", stack, *(["--show-secrets"] * show_secrets)], project_dir
    )
    if not outputs:
        raise StackUnreadable(f"stack {stack} has no outputs: is it up? (scripts/up.sh {stack})")
    return outputs


def docker_json(*args: str) -> list[dict[str, Any]]:
    """`docker <args> --format json`-style inspection; [] when the engine or the object is not here."""
    try:
        done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return []
    if done.returncode != 0:
        return []
    found = json.loads(done.stdout or "[]")
    return found if isinstance(found, list) else []


@dataclass(frozen=True)
class Live:
    stack: str
    outputs: dict[str, Any]
    secret_keys: frozenset[str]
    config: dict[str, Any]  # `pulumi config --json`, without secret values

    @classmethod
    def load(cls) -> Live:
        stack = os.environ.get(STACK_VARIABLE, "")
        if not stack:
            raise StackUnreadable(f"{STACK_VARIABLE} is not set: run scripts/verify.sh <stack>")
        project_dir = Path(os.environ.get(PROJECT_VARIABLE) or PROJECT_DIR)
        marked = pulumi_outputs(stack, project_dir, show_secrets=False)
        values = pulumi_outputs(stack, project_dir, show_secrets=True)
        secret_keys = frozenset(k for k, v in marked.items() if v == "[secret]")
        return cls(stack, values, secret_keys, pulumi_json(["config", "--json", "--stack", stack], project_dir))

    def secret_values(self) -> list[str]:
        return [str(self.outputs[k]) for k in self.secret_keys if str(self.outputs[k])]

    def out(self, key: str) -> str:
        """An output the calling check needs; a missing one skips the check, naming why."""
        if key not in self.outputs:
            owner = next((s.name for s in SERVICES if key in s.outputs), None)
            reason = f"{owner} is disabled in this stack" if owner else f"the stack has no output {key}"
            pytest.skip(f"{reason} (no output {key})")
        return str(self.outputs[key])

    def enabled(self, service: str) -> bool:
        return SPECS[service].outputs[0] in self.outputs

    def require(self, *services: str) -> None:
        missing = [s for s in services if not self.enabled(s)]
        if missing:
            pytest.skip(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} disabled in this stack")

    @cached_property
    def prefix(self) -> str:
        """The label every Docker object of the stack carries (read from its network)."""
        network = docker_json("network", "inspect", str(self.outputs.get("network", "")))
        labels = (network[0].get("Labels") or {}) if network else {}
        return str(labels.get(STACK_LABEL, ""))

    @cached_property
    def images(self) -> dict[str, str]:
        """Container name (without the stack's prefix) -> its image, for the containers on this engine."""
        if not self.prefix:
            return {}
        names = subprocess.run(
            ["docker", "ps", "-a", "--filter", f"label={STACK_LABEL}={self.prefix}", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        ).stdout.split()
        found = docker_json("inspect", *names) if names else []
        return {c["Name"].lstrip("/").removeprefix(f"{self.prefix}-"): c["Config"]["Image"] for c in found}

    def container(self, name: str) -> str:
        """The full name of one of the stack's containers on this engine; skips when it is not here."""
        if name not in self.images:
            pytest.skip(f"container {name} of the stack is not on this machine's Docker engine")
        return f"{self.prefix}-{name}"

    def image(self, service: str) -> str:
        """The image the stack's config gives `service` (else the program's pin)."""
        for key, entry in self.config.items():
            if key.rsplit(":", 1)[-1] == service and isinstance(entry.get("objectValue"), dict):
                return str(entry["objectValue"].get("image") or SPECS[service].image)
        return SPECS[service].image

    def kind(self, service: str) -> str:
        """What runs as `service`: the pinned image, a local stand-in, or a FAKE (README, Offline)."""
        if not self.enabled(service):
            return "disabled"
        image = self.image(service)
        if "fake" in image:
            return "FAKE (offline/fakes)"
        if image.startswith("mlops-local/"):
            return "stand-in (offline/images)"
        return "official image" if image == SPECS[service].image else "the stack's own image"
