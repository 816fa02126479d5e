"""Evaluate the real Pulumi program under Pulumi's mocks and record what it registers.

This is Pulumi's own unit-testing practice (`pulumi.runtime.set_mocks`): no
engine, no Docker; the recorder keeps each resource's inputs (secrets still
wrapped as secrets), parent, dependencies and URN, and the stack's outputs.
"""

from __future__ import annotations

import json
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.sync_await import _sync_await

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

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = secret_value(args.name)
        elif args.typ == "random:index/randomId:RandomId":
            outputs["b64Url"] = secret_value(args.name)
        elif args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:{args.name}"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class RecordingMonitor(mocks.MockMonitor):
    def __init__(self, evaluation: Evaluation) -> None:
        super().__init__(RecordingMocks())
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
            )
        return response


def evaluate(config: dict[str, Any], secret_keys: tuple[str, ...] = (), stack: str = "dev") -> Evaluation:
    """Run __main__.py once under mocks with the given stack config (keys without namespace)."""
    evaluation = Evaluation()
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        RecordingMocks(), project=PROJECT, stack=stack, preview=False, monitor=RecordingMonitor(evaluation)
    )
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()},
        [f"{PROJECT}:{k}" for k in secret_keys],
    )

    def program() -> None:
        runpy.run_path(str(PROJECT_DIR / "__main__.py"))

    mocks.test(program)()  # type: ignore[no-untyped-call]
    root = settings.get_root_resource()
    assert root is not None
    for key, output in root.outputs.items():  # type: ignore[attr-defined]  # the stack's exports (mocks never register them)
        output = pulumi.Output.from_input(output)
        value = _sync_await(output.future())
        evaluation.outputs[key] = rpc.wrap_rpc_secret(value) if _sync_await(output.is_secret()) else value
    return evaluation


# A socket group is given explicitly: unit tests must not depend on this machine's Docker.
# Volumes not retained: passwords come from RandomPassword (the seeded path is tested apart).
BASE_CONFIG: dict[str, Any] = {"dockerSocketGid": 998, "retainVolumes": False}


@pytest.fixture(scope="module")
def dev() -> Evaluation:
    return evaluate(BASE_CONFIG)


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def plain(value: Any) -> Any:
    """The value with every secret wrapper removed (to read what a resource received)."""
    if is_secret(value):
        return plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
