"""One stack for the whole session: a cold `up` costs minutes on two cores.

Its Celery workers run on two Docker engines: the main one and the tests' second engine
(tests/support/second_engine.py), a further host in a network namespace of the session's own,
reached over tcp:// with TLS; the stack's services are published for it on the session's end
of the veth pair (`workerAddress`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from pulumi import automation as auto

from components.base import STACK_LABEL
from tests.support import e2e_stack as e2e
from tests.support.containers import docker_client, require_image, unavailable
from tests.support.second_engine import SecondEngine, missing_prerequisite, second_engine

# The label of the stack a user brings up with `scripts/up.sh e2e` on this engine.
USERS_E2E_STACK = "mlops-stack-e2e"


@pytest.fixture(scope="session")
def users_volume() -> Iterator[str]:
    """A volume as a user's own `e2e` stack would have one: the session must leave it alone.

    Made before the test stack and checked after it is gone, so a test run that
    cleans up by a label it does not own fails here.
    """
    name = f"{USERS_E2E_STACK}-mysql-data-sentinel-{secrets.token_hex(4)}"
    e2e.docker("volume", "create", "--label", f"{STACK_LABEL}={USERS_E2E_STACK}", name)
    yield name
    survived = name in e2e.docker("volume", "ls", "--format", "{{.Name}}").split()
    if survived:
        e2e.docker("volume", "rm", name)
    assert survived, f"the test run removed {name}, a volume of a stack it did not create"


@pytest.fixture(scope="session")
def second_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecondEngine]:
    """The further worker host: it trusts the stack's registry on the session's end of the pair."""
    reason = missing_prerequisite()
    if reason:
        unavailable(reason)
    with second_engine(tmp_path_factory.mktemp("second-engine"), trust_host_registries=True) as engine:
        e2e.copy_image(e2e.AIRFLOW_IMAGE, engine)
        yield engine


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, users_volume: str, second_host: SecondEngine
) -> Iterator[auto.Stack]:
    reason = e2e.toolchain_missing()
    if reason:
        unavailable(reason)
    client = docker_client()
    for service in ("mysql", "minio", "airflow", "registry", "gitbucket", "phpmyadmin", "mlflow", "redis", "haproxy"):
        require_image(client, service)
    assert e2e.STACK != "e2e" and e2e.PREFIX != USERS_E2E_STACK
    with e2e.e2e_stack(tmp_path_factory.mktemp("e2e")) as created:
        e2e.add_worker_host(created, second_host)
        yield created
