"""Stack config validation: every problem found, all reported at once."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import DEFAULT_IMAGES, ConfigError, is_valid_image_reference, load


def no_socket(_: str) -> int | None:
    return None


def problems_of(raw: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> list[str]:
    """Problems of `raw`; volumes not retained unless said, so no seed is needed (tested apart)."""
    with pytest.raises(ConfigError) as raised:
        load("mlops-stack", "dev", {"retainVolumes": False, **raw}, secret_keys, socket_gid=no_socket)
    return raised.value.problems


SEED = {"secretSeed": "a-seed-of-32-characters-or-more!"}
SEED_KEYS = frozenset({"secretSeed"})


def test_defaults_are_valid_and_safe() -> None:
    stack = load("mlops-stack", "dev", {"dockerSocketGid": 999, **SEED}, SEED_KEYS, socket_gid=no_socket)
    assert stack.bind_address == "127.0.0.1"
    assert stack.retain_volumes is True
    assert stack.has_secret_seed
    assert stack.prefix == "mlops-stack-dev"
    assert all(s.enabled for s in stack.services.values())
    assert {s.image for s in stack.services.values()} == set(DEFAULT_IMAGES.values())
    assert stack.docker_socket_gid == 999


def test_socket_group_is_looked_up_on_a_local_socket() -> None:
    stack = load(
        "p", "s", SEED, SEED_KEYS, socket_gid=lambda host: 123 if host == "unix:///var/run/docker.sock" else None
    )
    assert stack.docker_socket_gid == 123


def test_socket_group_is_required_for_a_remote_docker_host() -> None:
    problems = problems_of({"dockerHost": "ssh://ops@build-host"})
    assert problems == [
        "jenkins/airflow need the Docker socket's group id: set 'dockerSocketGid' "
        "(`stat -c %g /var/run/docker.sock` on the Docker host ssh://ops@build-host)"
    ]


def test_socket_group_is_not_needed_without_jenkins_and_airflow() -> None:
    stack = load(
        "p",
        "s",
        {"jenkins": {"enabled": False}, "airflow": {"enabled": False}, **SEED},
        SEED_KEYS,
        socket_gid=no_socket,
    )
    assert stack.docker_socket_gid is None


def test_unknown_keys_are_named() -> None:
    problems = problems_of({"dockerSocketGid": 1, "bindAdress": "127.0.0.1", "mysql": {"prot": 1}})
    assert problems[0].startswith("unknown config key 'bindAdress'")
    assert problems[1] == "unknown key 'mysql.prot'"


@pytest.mark.parametrize("port", [0, 65536, -1, "80", 3.5, True])
def test_ports_out_of_range_or_not_numbers(port: Any) -> None:
    assert problems_of({"dockerSocketGid": 1, "jenkins": {"port": port}}) == [
        f"'jenkins.port' must be a port number 1-65535, got {port!r}"
    ]


def test_two_services_on_one_host_port() -> None:
    problems = problems_of({"dockerSocketGid": 1, "jenkins": {"port": 9001}})
    assert problems == ["host port 9001 is used by both minio.consolePort and jenkins.port"]


def test_a_disabled_service_frees_its_port() -> None:
    load("p", "s", {"dockerSocketGid": 1, "minio": {"enabled": False}, "jenkins": {"port": 9001}, **SEED}, SEED_KEYS)


def test_console_port_belongs_to_minio_only() -> None:
    assert problems_of({"dockerSocketGid": 1, "mysql": {"consolePort": 1234}}) == [
        "'mysql.consolePort' does not apply to mysql"
    ]


@pytest.mark.parametrize(
    "image",
    [
        "mysql:8.4.11",
        "ghcr.io/gitbucket/gitbucket:4.46.1",
        "localhost:5000/mlops/mysql:8.4",
        "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z",
        "registry@sha256:" + "a" * 64,
        "mlops-local/airflow",
    ],
)
def test_valid_image_references(image: str) -> None:
    assert is_valid_image_reference(image)


@pytest.mark.parametrize(
    "image", ["", "Mysql:8", "mysql:", "my sql", "mysql:8.4 ", "-mysql", "mysql@sha256:zz", ":tag"]
)
def test_malformed_image_references(image: str) -> None:
    assert not is_valid_image_reference(image)
    problems = problems_of({"dockerSocketGid": 1, "mysql": {"image": image}})
    assert any("mysql.image" in p for p in problems)


def test_a_needed_service_disabled() -> None:
    assert problems_of({"dockerSocketGid": 1, "mysql": {"enabled": False}}) == [
        "gitbucket is enabled but needs mysql, which is disabled",
        "airflow is enabled but needs mysql, which is disabled",
    ]


def test_memory_bind_address_docker_host_and_booleans() -> None:
    problems = problems_of(
        {
            "dockerSocketGid": 1,
            "bindAddress": "localhost",
            "dockerHost": "/var/run/docker.sock",
            "retainVolumes": "yes",
            **SEED,
            "airflow": {"memoryMb": 10},
            "registry": {"enabled": "maybe"},
        },
        SEED_KEYS,
    )
    assert problems == [
        "bindAddress 'localhost' is not an IP address",
        "dockerHost '/var/run/docker.sock' must start with one of unix://, tcp://, ssh://, npipe://",
        "'retainVolumes' must be true or false, got 'yes'",
        "'airflow.memoryMb' must be a whole number of MiB >= 64, got 10",
        "'registry.enabled' must be true or false, got 'maybe'",
    ]


def test_passwords_must_be_stored_as_secrets() -> None:
    problems = problems_of({"dockerSocketGid": 1, "jenkinsAdminPassword": "in-plain-sight"})
    assert problems == [
        "'jenkinsAdminPassword' is stored in plaintext: set it with `pulumi config set --secret jenkinsAdminPassword`"
    ]
    stack = load(
        "p",
        "s",
        {"dockerSocketGid": 1, "jenkinsAdminPassword": "a-secret-one", **SEED},
        frozenset({"jenkinsAdminPassword"}) | SEED_KEYS,
        socket_gid=no_socket,
    )
    assert stack.secrets_set == frozenset({"jenkinsAdminPassword"})
    assert problems_of(
        {"dockerSocketGid": 1, "jenkinsAdminPassword": "short"}, frozenset({"jenkinsAdminPassword"})
    ) == ["'jenkinsAdminPassword' must be a string of at least 8 characters"]


def test_many_problems_make_one_error_listing_them_all() -> None:
    with pytest.raises(ConfigError) as raised:
        load(
            "p", "s", {"x": 1, "mysql": {"port": 0}, "minio": {"image": "BAD"}, **SEED}, SEED_KEYS, socket_gid=no_socket
        )
    message = str(raised.value)
    assert message.startswith("invalid stack configuration (4 problem(s)):")
    assert message.count("\n  - ") == 4


def test_retained_volumes_need_a_secret_seed() -> None:
    with pytest.raises(ConfigError) as raised:
        load("p", "s", {"dockerSocketGid": 1}, socket_gid=no_socket)
    assert raised.value.problems[0].startswith("retainVolumes is true but 'secretSeed' is not set")
    assert problems_of({"dockerSocketGid": 1, **SEED}) == [
        "'secretSeed' is stored in plaintext: set it with `pulumi config set --secret`"
    ]
    assert problems_of({"dockerSocketGid": 1, "secretSeed": "short"}, SEED_KEYS) == [
        "'secretSeed' must be a string of at least 16 characters"
    ]
