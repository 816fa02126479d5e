"""Evaluate the platform under Pulumi's mocks and record what it registers.

Pulumi's own unit-testing practice, through public APIs only: config as the
language host hands it to a program (PULUMI_CONFIG and
PULUMI_CONFIG_SECRET_KEYS), `pulumi.runtime.set_mocks` with a recording
monitor (its documented `monitor` argument), and `@pulumi.runtime.test` to
await the stack's outputs. No engine, no Docker; the recorder keeps each
resource's inputs (secrets still wrapped as secrets), parent, dependencies and
URN.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks, rpc

from components import config as stack_config
from components import platform

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT = "mlops-stack"


@dataclass
class Registered:
    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    parent: str
    dependencies: list[str]
    provider: str = ""  # "<provider's urn>::<its id>", when one was given


@dataclass
class Evaluation:
    resources: dict[str, Registered] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources.values() if r.type == type_]

    def named(self, name: str) -> Registered:
        matches = [r for r in self.resources.values() if r.name == name]
        assert len(matches) == 1, f"expected one resource named {name}, found {len(matches)}"
        return matches[0]

    def depends_on(self, resource: Registered, other: Registered) -> bool:
        """True if `other` is reachable through dependency or parent edges (Pulumi's
        dependency on a component means on all of its children)."""
        seen: set[str] = set()
        todo = list(resource.dependencies)
        while todo:
            urn = todo.pop()
            if urn in seen:
                continue
            seen.add(urn)
            if urn == other.urn:
                return True
            todo.extend(self.resources[urn].dependencies if urn in self.resources else [])
            todo.extend(r.urn for r in self.resources.values() if r.parent == urn)
        return False


def secret_value(name: str) -> str:
    return f"mock-secret-{name}"


class RecordingMocks(pulumi.runtime.Mocks):
    """Resources echo their inputs as outputs, plus the computed outputs the program reads."""

    def __init__(self, exit_codes: Mapping[str, int] | None = None) -> None:
        self.exit_codes = dict(exit_codes or {})

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = secret_value(args.name)
        elif args.typ == "random:index/randomId:RandomId":
            outputs["b64Url"] = secret_value(args.name)
        elif args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:{args.name}"
        elif args.typ == "docker:index/container:Container" and args.inputs.get("mustRun") is False:
            # A one-shot step that ran: its exit code as the provider records it.
            outputs["exitCode"] = self.exit_codes.get(args.name, 0)
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class RecordingMonitor(mocks.MockMonitor):
    def __init__(self, evaluation: Evaluation, exit_codes: Mapping[str, int] | None = None) -> None:
        super().__init__(RecordingMocks(exit_codes))
        self.evaluation = evaluation

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
            self.evaluation.resources[response.urn] = Registered(
                urn=response.urn,
                type=request.type,
                name=request.name,
                inputs=inputs,
                parent=request.parent,
                dependencies=list(request.dependencies),
                provider=request.provider,
            )
        return response


@contextmanager
def pulumi_config(config: Mapping[str, Any], secret_keys: tuple[str, ...] = ()) -> Iterator[None]:
    """The stack config as the language host hands it to the program (keys without namespace)."""
    saved = {k: os.environ.get(k) for k in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")}
    os.environ["PULUMI_CONFIG"] = json.dumps(
        {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    )
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps([f"{PROJECT}:{k}" for k in secret_keys])
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class Secret:
    """A stack output that is a secret, with its value (to check what it holds)."""

    value: Any


def mocked(evaluation: Evaluation, stack: str, exit_codes: Mapping[str, int] | None = None) -> None:
    """Pulumi's mocks, recording into `evaluation`; `exit_codes` of one-shot containers by name (else 0)."""
    pulumi.runtime.reset_options(project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_mocks(
        RecordingMocks(exit_codes),
        project=PROJECT,
        stack=stack,
        preview=False,
        monitor=RecordingMonitor(evaluation, exit_codes),
    )


def run(evaluation: Evaluation, build: Callable[[], Mapping[str, pulumi.Input[Any]]]) -> None:
    """Run `build` under the mocks and await the outputs it returns into `evaluation.outputs`."""

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> Any:
        outputs = build()

        async def collect() -> None:
            for key, value in outputs.items():
                output = pulumi.Output.from_input(value)
                resolved = await output.future()
                evaluation.outputs[key] = Secret(resolved) if await output.is_secret() else resolved

        return collect()

    program()


def evaluate(config: dict[str, Any], secret_keys: tuple[str, ...] = (), stack: str = "dev") -> Evaluation:
    """Read the stack config (as `__main__.py` does) and build the whole platform under mocks."""
    evaluation = Evaluation()
    mocked(evaluation, stack)
    with pulumi_config(config, secret_keys):
        run(evaluation, lambda: platform.deploy(stack_config.from_pulumi(platform.SERVICES)).outputs())
    return evaluation


# A socket group is given explicitly: unit tests must not depend on this machine's Docker.
# Volumes not retained: passwords come from RandomPassword (the seeded path is tested apart).
BASE_CONFIG: dict[str, Any] = {"dockerSocketGid": 998, "retainVolumes": False}


@pytest.fixture(scope="module")
def dev() -> Evaluation:
    return evaluate(BASE_CONFIG)


def is_secret(value: Any) -> bool:
    return isinstance(value, Secret) or rpc.is_rpc_secret(value)


def env_of(resource: Registered) -> dict[str, str]:
    """A container's environment as a dict, secrets unwrapped (to read what it received)."""
    return dict(entry.split("=", 1) for entry in plain(resource.inputs["envs"]))


def plain(value: Any) -> Any:
    """The value with every secret wrapper removed (to read what a resource received)."""
    if isinstance(value, Secret):
        return plain(value.value)
    if rpc.is_rpc_secret(value):
        return plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
