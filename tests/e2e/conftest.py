"""One `e2e` stack for the whole session: a cold `up` costs minutes on two cores."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pulumi import automation as auto

from tests.support import e2e_stack as e2e
from tests.support.containers import docker_client, require_image, unavailable


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[auto.Stack]:
    reason = e2e.toolchain_missing()
    if reason:
        unavailable(reason)
    client = docker_client()
    for service in ("mysql", "minio", "airflow", "registry", "gitbucket"):
        require_image(client, service)
    with e2e.e2e_stack(tmp_path_factory.mktemp("e2e")) as created:
        yield created
