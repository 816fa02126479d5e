"""Stack config validation: every problem found, all reported at once."""

from __future__ import annotations

from typing import Any

import pytest

from components import config
from components.config import ConfigError, StackConfig, is_valid_image_reference
from components.platform import SERVICES

DEFAULT_IMAGES = {spec.name: spec.image for spec in SERVICES}


def load(
    project: str,
    stack: str,
    raw: dict[str, Any],
    secret_keys: frozenset[str] = frozenset(),
    socket_gid: Any = None,
) -> StackConfig:
    """The stack-wide keys and every registered service's declarations, as the program validates them."""
    return config.load(project, stack, raw, SERVICES, secret_keys, socket_gid=socket_gid)


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
    assert {name for name, s in stack.services.items() if not s.enabled} == {"phpmyadmin", "redis"}  # off by default
    assert {s.image for s in stack.services.values()} == set(DEFAULT_IMAGES.values())
    assert stack.docker_socket_gid == 999


def test_socket_group_is_looked_up_on_a_local_socket() -> None:
    stack = load(
        "p", "s", SEED, SEED_KEYS, socket_gid=lambda host: 123 if host == "unix:///var/run/docker.sock" else None
    )
    assert stack.docker_socket_gid == 123


def test_socket_group_is_required_for_a_remote_docker_host() -> None:
    remote = {"dockerHost": "ssh://ops@build-host", "bindAddress": "192.0.2.10", **EXTERNAL, **EXTERNAL_SECRET}
    problems = problems_of(remote, EXTERNAL_KEYS)
    assert problems == [
        "jenkins/airflow start containers: set 'dockerSocketGid' to the Docker socket's group id "
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
    assert problems[1] == "unknown key 'mysql.prot' (known: enabled, exporterImage, image, memoryMb, port)"


@pytest.mark.parametrize("port", [0, 65536, -1, "80", 3.5, True])
def test_ports_out_of_range_or_not_numbers(port: Any) -> None:
    assert problems_of({"dockerSocketGid": 1, "jenkins": {"port": port}}) == [
        f"'jenkins.port' must be a port number 1-65535, got {port!r}"
    ]


def test_two_services_on_one_host_port() -> None:
    problems = problems_of({"dockerSocketGid": 1, "jenkins": {"port": 9001}})
    assert problems == ["host port 9001 is used by both minio.consolePort and jenkins.port"]


def test_a_disabled_service_frees_its_port() -> None:
    config = {
        "dockerSocketGid": 1,
        "minio": {"enabled": False},
        "mlflow": {"enabled": False},
        "modelApi": {"enabled": False},
        "jenkins": {"port": 9001},
    }
    load("p", "s", {**config, **SEED}, SEED_KEYS)


def test_console_port_belongs_to_minio_only() -> None:
    assert problems_of({"dockerSocketGid": 1, "mysql": {"consolePort": 1234}}) == [
        "unknown key 'mysql.consolePort' (known: enabled, exporterImage, image, memoryMb, port)"
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
        "mlflow is enabled but needs mysql, which is disabled",
        "gitbucket is enabled but needs mysql, which is disabled",
        "airflow is enabled but needs mysql, which is disabled",
    ]


def test_a_service_refuses_a_password_shorter_than_it_accepts() -> None:
    """MLflow's basic-auth refuses passwords under 12 characters: config says so before anything runs."""
    short = "elevenchars"
    config = {"dockerSocketGid": 1, "mlflowAdminPassword": short, "airflowAdminPassword": short}
    problems = problems_of(config, secret_keys=frozenset({"mlflowAdminPassword", "airflowAdminPassword"}))
    assert problems == ["'mlflowAdminPassword' must be a string of 12 to 40 characters"]


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
        "dockerHost '/var/run/docker.sock' must be one of unix://, tcp://, ssh://, npipe:// "
        "followed by a socket path or a host",
        "'retainVolumes' must be true or false, got 'yes'",
        "'registry.enabled' must be true or false, got 'maybe'",
        "'airflow.memoryMb' must be a whole number of MiB from 64 to 1048576, got 10",
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
    ) == ["'jenkinsAdminPassword' must be a string of 8 to 40 characters"]


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


EXTERNAL = {"externalRegistry": {"url": "registry.example.com:5443/team", "username": "ci-bot"}}
EXTERNAL_SECRET = {"externalRegistryPassword": "registry-token"}
EXTERNAL_KEYS = frozenset({"externalRegistryPassword"})


def load_quietly(raw: dict[str, Any], secret_keys: frozenset[str] = frozenset()) -> Any:
    return load("p", "s", {"retainVolumes": False, "dockerSocketGid": 1, **raw}, secret_keys, socket_gid=no_socket)


def test_an_external_registry_replaces_the_local_one() -> None:
    stack = load_quietly({**EXTERNAL, **EXTERNAL_SECRET}, EXTERNAL_KEYS)
    assert stack.external_registry is not None
    assert stack.external_registry.url == "registry.example.com:5443/team"
    assert stack.external_registry.server == "registry.example.com:5443"
    assert stack.external_registry.username == "ci-bot"
    assert not stack.enabled("registry")  # and Jenkins, which needs a registry, is satisfied
    assert stack.enabled("jenkins")


def test_an_anonymous_external_registry_needs_no_credentials() -> None:
    stack = load_quietly({"externalRegistry": {"url": "docker.io/myorg/"}})
    assert stack.external_registry is not None
    assert stack.external_registry.url == "docker.io/myorg"
    assert stack.external_registry.username is None


@pytest.mark.parametrize(
    "url",
    ["registry.example.com", "localhost:5000", "mirror:5000/a/b", "10.0.0.5:5000/team", "r.example.com/a-b/c_d"],
)
def test_valid_external_registry_urls(url: str) -> None:
    assert load_quietly({"externalRegistry": {"url": url}}).external_registry.url == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://registry.example.com", "without a scheme or credentials"),
        ("myorg/images", "registry host first"),  # Docker would read myorg as a Docker Hub namespace
        ("registry.example.com/Team", "lowercase"),
        ("registry.example.com/team:latest", "host[:port][/namespace]"),
        ("", "non-empty string"),
        (5000, "non-empty string"),
    ],
)
def test_bad_external_registry_urls_are_named(url: Any, says: str) -> None:
    problems = problems_of({"externalRegistry": {"url": url}, "dockerSocketGid": 1})
    assert len(problems) == 1 and problems[0].startswith("'externalRegistry.url'") and says in problems[0]


def test_external_registry_credentials_come_in_pairs_and_as_secrets() -> None:
    assert problems_of({**EXTERNAL, "dockerSocketGid": 1}) == [
        "'externalRegistry.username' is set but 'externalRegistryPassword' is not: "
        "`pulumi config set --secret externalRegistryPassword`"
    ]
    no_user = {"externalRegistry": {"url": "r.example.com"}, **EXTERNAL_SECRET, "dockerSocketGid": 1}
    assert problems_of(no_user, EXTERNAL_KEYS) == [
        "'externalRegistryPassword' is set but 'externalRegistry.username' is not"
    ]
    assert problems_of({**EXTERNAL, **EXTERNAL_SECRET, "dockerSocketGid": 1}) == [
        "'externalRegistryPassword' is stored in plaintext: "
        "set it with `pulumi config set --secret externalRegistryPassword`"
    ]
    assert problems_of({**EXTERNAL_SECRET, "dockerSocketGid": 1}, EXTERNAL_KEYS) == [
        "'externalRegistryPassword' is set but 'externalRegistry' is not"
    ]


def test_an_external_registry_and_the_local_one_conflict() -> None:
    problems = problems_of(
        {**EXTERNAL, **EXTERNAL_SECRET, "registry": {"enabled": True}, "dockerSocketGid": 1}, EXTERNAL_KEYS
    )
    assert problems == [
        "'externalRegistry' is set and registry.enabled is true: choose one "
        "(remove registry.enabled to use 'externalRegistry')"
    ]


def test_external_registry_shape_errors_are_named() -> None:
    assert problems_of({"externalRegistry": "registry.example.com", "dockerSocketGid": 1}) == [
        "'externalRegistry' must be an object with keys url, username"
    ]
    problems = problems_of({"externalRegistry": {"url": "r.example.com", "user": "x"}, "dockerSocketGid": 1})
    assert problems == ["unknown key 'externalRegistry.user' (known: url, username)"]


def test_jenkins_without_any_registry_is_refused() -> None:
    problems = problems_of({"registry": {"enabled": False}, "dockerSocketGid": 1})
    assert problems == ["jenkins is enabled but needs registry, which is disabled and 'externalRegistry' is not set"]


def test_an_old_key_names_its_new_name() -> None:
    assert problems_of({"dockerSocketGid": 1, "gitbucketAdminPassword": "x" * 12}) == [
        "config key 'gitbucketAdminPassword' is now 'gitbucketRootPassword' (the name of its stack output): rename it"
    ]


@pytest.mark.parametrize(
    ("stack", "ok"),
    [("dev", True), ("team-a", True), ("e2etest-1f2e", True), ("Dev", False), ("a--b", False), ("a_", False)],
)
def test_the_stack_name_must_make_valid_docker_names(stack: str, ok: bool) -> None:
    raw = {"retainVolumes": False, "dockerSocketGid": 1}
    if ok:
        assert load("mlops-stack", stack, raw).prefix == f"mlops-stack-{stack}"
    else:
        with pytest.raises(ConfigError, match=f"stack name '{stack}' cannot name Docker objects"):
            load("mlops-stack", stack, raw)


@pytest.mark.parametrize("address", ["::1", "::", "fe80::1"])
def test_ipv6_bind_addresses_are_refused_with_a_reason(address: str) -> None:
    [problem] = problems_of({"dockerSocketGid": 1, "bindAddress": address})
    assert problem.startswith(f"bindAddress '{address}' is IPv6: not supported")


def test_a_lan_bind_address_with_the_local_registry_is_refused() -> None:
    [problem] = problems_of({"dockerSocketGid": 1, "bindAddress": "192.168.1.10"})
    assert problem.startswith("bindAddress 192.168.1.10 with the local registry")
    assert load("p", "s", {"retainVolumes": False, "dockerSocketGid": 1, "bindAddress": "0.0.0.0"}).host_address == (
        "127.0.0.1"
    )


@pytest.mark.parametrize("host", ["tcp://build-host:2376", "ssh://ops@build-host"])
@pytest.mark.parametrize("bind", ["127.0.0.1", "0.0.0.0"])
def test_a_remote_docker_host_with_a_loopback_or_wildcard_bind_is_refused(host: str, bind: str) -> None:
    problems = problems_of({"dockerSocketGid": 1, "dockerHost": host, "bindAddress": bind})
    assert f"dockerHost '{host}' is another machine but bindAddress is {bind}" in problems[0]


@pytest.mark.parametrize("host", ["unix://", "tcp://", "ssh://"])
def test_a_bare_docker_host_scheme_is_refused(host: str) -> None:
    [problem] = problems_of({"dockerSocketGid": 1, "dockerHost": host})
    assert problem.startswith(f"dockerHost '{host}' must be one of")


@pytest.mark.parametrize("memory", [2**44, 1024 * 1024 + 1, 63])
def test_memory_is_bounded(memory: int) -> None:
    [problem] = problems_of({"dockerSocketGid": 1, "mysql": {"memoryMb": memory}})
    assert problem.startswith("'mysql.memoryMb' must be a whole number of MiB from 64 to 1048576")


@pytest.mark.parametrize(
    "password",
    ["x" * 41, "line\nbreak-pass", "with space inside", "pässwörter-und-mehr", "short"],
)
def test_passwords_are_printable_ascii_of_8_to_40_characters(password: str) -> None:
    [problem] = problems_of(
        {"dockerSocketGid": 1, "gitbucketRootPassword": password}, frozenset({"gitbucketRootPassword"})
    )
    assert problem.startswith("'gitbucketRootPassword' ")


@pytest.mark.parametrize("key", ["gitbucketRootPassword", "gitbucketAutomationPassword"])
@pytest.mark.parametrize("password", ["pässwörter-und-mehr", "euro-\u20ac-sign-pass"])
def test_a_non_ascii_gitbucket_password_is_refused_by_its_key(key: str, password: str) -> None:
    """Jenkins, Airflow and git take the GitBucket passwords too: the stack keeps them ASCII,
    refused in config before anything is created (issue 14: latin-1 vs UTF-8 Basic auth)."""
    [problem] = problems_of({"dockerSocketGid": 1, key: password}, frozenset({key}))
    assert problem == f"'{key}' may hold printable ASCII characters only (no spaces, newlines or accented letters)"


@pytest.mark.parametrize("ref", ["mysql:8.4\n", "mysql:8.4\u00e9", "mysql:ta\u0261"])
def test_image_references_with_a_newline_or_non_ascii_are_invalid(ref: str) -> None:
    assert not is_valid_image_reference(ref)
    assert is_valid_image_reference("mirror.local:5000/mlops/mysql:8.4")


@pytest.mark.parametrize("url", ["registry.example.com:0/team", "registry.example.com:99999", "localhost:0"])
def test_registry_ports_outside_the_range_are_refused(url: str) -> None:
    problems = problems_of({"dockerSocketGid": 1, "externalRegistry": {"url": url}})
    assert any("has a port outside 1-65535" in p for p in problems), problems


def test_credentials_in_a_registry_url_are_not_repeated() -> None:
    problems = problems_of(
        {"dockerSocketGid": 1, "externalRegistry": {"url": "https://bot:hunter2-token@reg.example.com"}}
    )
    assert problems and all("hunter2" not in p for p in problems), problems
    assert any("[redacted]@reg.example.com" in p for p in problems), problems
