"""What every service container of the stack shares: naming, image, volumes, health.

One place for the conventions of shared/DESIGN.md ("Containers"), so each
service module only says what is particular to its service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_command
import pulumi_docker as docker
import pulumi_random as random

from components.config import SECRET_SEED_KEY, StackConfig, is_valid_image_reference
from components.files import PROJECT_DIR, context_hash
from components.spec import ServiceConfig
from mlops_clients.contracts import Client

STACK_LABEL = "mlops.stack"
SERVICE_LABEL = "mlops.service"


@dataclass(frozen=True)
class Published:
    """A container port published on the stack's bind address (or on `address`, when given)."""

    internal: int
    external: int
    address: str | None = None


NO_NEW_PRIVILEGES = "no-new-privileges:true"


def hardening_args(drop_capabilities: bool) -> dict[str, Any]:
    """CIS Docker Benchmark items a container tolerates (README, "Security").

    Every container gets `no-new-privileges` (setuid binaries cannot raise
    privileges; entrypoints that drop to a user with setuid() still work);
    `drop_capabilities` for a process that needs no Linux capability at all.
    """
    return {
        "security_opts": [NO_NEW_PRIVILEGES],
        "capabilities": docker.ContainerCapabilitiesArgs(drops=["ALL"]) if drop_capabilities else None,
    }


@dataclass(frozen=True)
class Mount:
    """A named volume (created by the caller) mounted into a container."""

    volume_name: pulumi.Input[str]
    container_path: str
    read_only: bool = False


def volume_args(mounts: Sequence[Mount]) -> list[docker.ContainerVolumeArgs]:
    return [
        docker.ContainerVolumeArgs(
            volume_name=m.volume_name, container_path=m.container_path, read_only=m.read_only or None
        )
        for m in mounts
    ]


def labels(stack: StackConfig, service: str) -> list[docker.ContainerLabelArgs]:
    return [
        docker.ContainerLabelArgs(label=STACK_LABEL, value=stack.prefix),
        docker.ContainerLabelArgs(label=SERVICE_LABEL, value=service),
    ]


def local_image(
    name: str, reference: str, parent: pulumi.Resource, provider: docker.Provider | None = None
) -> pulumi.Output[str]:
    """The service's image id on the stack's engine (or `provider`'s): pulled if absent, kept on destroy
    (other stacks may share it)."""
    return docker.RemoteImage(
        name,
        name=reference,
        keep_locally=True,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    ).image_id


EXPORTER_MEMORY_MB = 64  # a metrics exporter next to a service (mysqld_exporter, statsd_exporter)


def image_problem(value: Any) -> str | None:
    """A Setting check for an image reference (an exporter's)."""
    if isinstance(value, str) and is_valid_image_reference(value):
        return None
    return f"is not a valid image reference: {value!r}"


def derived_image(
    name: str, stack: StackConfig, context: str, build_args: Mapping[str, str], parent: pulumi.Resource
) -> pulumi.Output[str]:
    """An image the program builds on the host's engine from a directory of the project; never pushed.

    Named by the hash of the directory and of the build arguments (the base image),
    so a change to either builds a new image and replaces what runs it.
    """
    digest = hashlib.sha256(context_hash(PROJECT_DIR / context).encode())
    for key, value in sorted(build_args.items()):
        digest.update(f"\0{key}={value}".encode())
    return docker.RemoteImage(
        name,
        name=f"{stack.prefix}-{Path(context).name}:{digest.hexdigest()[:12]}",
        build=docker.RemoteImageBuildArgs(
            context=context,  # relative to the project: the same on every machine
            build_args=dict(build_args),
        ),
        keep_locally=False,
        opts=pulumi.ResourceOptions(parent=parent),
    ).image_id


def data_volume(name: str, stack: StackConfig, purpose: str, parent: pulumi.Resource) -> docker.Volume:
    """A named volume for state (`purpose` e.g. "mysql-data"); kept on destroy unless the stack says otherwise."""
    return docker.Volume(
        name,
        name=f"{stack.prefix}-{purpose}",
        labels=[docker.VolumeLabelArgs(label=STACK_LABEL, value=stack.prefix)],
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=stack.retain_volumes),
    )


def scratch_volume(name: str, stack: StackConfig, purpose: str, parent: pulumi.Resource) -> docker.Volume:
    """A named volume two containers share and nobody needs after `destroy` (never retained)."""
    return docker.Volume(
        name,
        name=f"{stack.prefix}-{purpose}",
        labels=[docker.VolumeLabelArgs(label=STACK_LABEL, value=stack.prefix)],
        opts=pulumi.ResourceOptions(parent=parent),
    )


def secret_password(
    name: str,
    config_key: str,
    stack: StackConfig,
    parent: pulumi.Resource,
) -> pulumi.Output[str]:
    """A password a user may choose (`pulumi config set --secret <config_key>`), else generated."""
    if config_key in stack.secrets_set:
        return pulumi.Output.secret(pulumi.Config().require_secret(config_key))
    return generated_secret(name, stack, parent)


def generated_secret(name: str, stack: StackConfig, parent: pulumi.Resource) -> pulumi.Output[str]:
    """32 letters and digits (about 190 bits): safe in JDBC/SQLAlchemy URLs, shells and basic auth.

    With the stack's `secretSeed` (config, encrypted) it is derived from the seed
    and `name`, so it survives `pulumi destroy`: retained volumes keep the
    passwords they were made with, and a later `up` must present the same ones.
    Without a seed (only allowed when volumes are not retained) it is a
    RandomPassword, kept in the stack's state.
    """
    if stack.has_secret_seed:
        seed = pulumi.Config().require_secret(SECRET_SEED_KEY)
        return pulumi.Output.secret(seed.apply(lambda value: derive_password(value, name)))
    generated = random.RandomPassword(name, length=32, special=False, opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(generated.result)


def generated_fernet_key(name: str, stack: StackConfig, parent: pulumi.Resource) -> pulumi.Output[str]:
    """A Fernet key (url-safe base64 of 32 random bytes, padded), seeded like `generated_secret`."""
    if stack.has_secret_seed:
        seed = pulumi.Config().require_secret(SECRET_SEED_KEY)
        return pulumi.Output.secret(
            seed.apply(lambda value: base64.urlsafe_b64encode(derive_bytes(value, name)).decode())
        )
    generated = random.RandomId(name, byte_length=32, opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(generated.b64_url.apply(lambda key: key + "="))


_ALPHABET = string.ascii_letters + string.digits


def derive_bytes(seed: str, name: str) -> bytes:
    return hmac.new(seed.encode(), f"mlops-stack/{name}".encode(), hashlib.sha256).digest()


def derive_password(seed: str, name: str, length: int = 32) -> str:
    """Deterministic, uniform over letters and digits (rejection-free: 62**32 < 2**256)."""
    number = int.from_bytes(derive_bytes(seed, name), "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def go_duration(seconds: int) -> str:
    """A duration as Docker reports it back ("1m0s", not "60s"), so a refresh sees no drift."""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def service_container(
    name: str,
    *,
    stack: StackConfig,
    service: ServiceConfig,
    image: pulumi.Input[str],
    network: pulumi.Input[str],
    alias: str,
    health: Sequence[str],
    shared_alias: str | None = None,
    start_period: int = 30,
    interval: int = 5,
    wait_timeout: int = 120,
    published: Sequence[Published] = (),
    envs: pulumi.Input[Sequence[pulumi.Input[str]]] | None = None,
    mounts: Sequence[Mount] = (),
    host_mounts: Sequence[tuple[str, str]] = (),
    command: Sequence[str] | None = None,
    user: str | None = None,
    group_adds: Sequence[str] | None = None,
    uploads: Sequence[docker.ContainerUploadArgs] | None = None,
    drop_capabilities: bool = False,
    memory_mb: int | None = None,
    destroy_grace_seconds: int | None = None,
    opts: pulumi.ResourceOptions,
) -> docker.Container:
    """A long-running service container: healthy before `up` goes on, restarted on failure.

    `memory_mb` is for a helper of the service (an exporter), else the service's own limit;
    `destroy_grace_seconds`: how long it may take to stop when removed (a worker finishing its tasks).
    """
    volumes = volume_args(mounts)
    volumes += [docker.ContainerVolumeArgs(host_path=h, container_path=c) for h, c in host_mounts]
    return docker.Container(
        name,
        name=f"{stack.prefix}-{alias}",
        image=image,
        hostname=alias,
        command=list(command) if command else None,
        envs=envs,
        user=user,
        group_adds=list(group_adds) if group_adds else None,
        # A shared alias (replicas of one service) resolves to all of them, round-robin.
        networks_advanced=[
            docker.ContainerNetworksAdvancedArgs(name=network, aliases=[alias, *filter(None, [shared_alias])])
        ],
        ports=[
            docker.ContainerPortArgs(internal=p.internal, external=p.external, ip=p.address or stack.bind_address)
            for p in published
        ],
        volumes=volumes or None,
        uploads=list(uploads) if uploads else None,
        memory=memory_mb or service.memory_mb,
        memory_swap=memory_mb or service.memory_mb,  # no swap beyond the limit (no diff: Docker's default is 2x)
        restart="unless-stopped",
        destroy_grace_seconds=destroy_grace_seconds,
        healthcheck=docker.ContainerHealthcheckArgs(
            tests=["CMD-SHELL", *health],
            interval=go_duration(interval),
            timeout=go_duration(20),
            retries=6,
            # No start_interval: it needs Docker API 1.44, and Debian's engine speaks 1.41.
            start_period=go_duration(start_period),
        ),
        wait=True,
        wait_timeout=wait_timeout,
        labels=labels(stack, service.name),
        **hardening_args(drop_capabilities),
        # A fixed host port cannot be held by old and new container at once.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
    )


def one_shot_container(
    name: str,
    *,
    stack: StackConfig,
    service: ServiceConfig,
    image: pulumi.Input[str],
    network: pulumi.Input[str],
    command: Sequence[str],
    envs: pulumi.Input[Sequence[pulumi.Input[str]]],
    user: str,
    uploads: Sequence[docker.ContainerUploadArgs] | None = None,
    mounts: Sequence[Mount] = (),
    working_dir: str | None = None,
    opts: pulumi.ResourceOptions,
) -> tuple[docker.Container, pulumi.Output[str]]:
    """A step that runs to completion before a service starts (a migration): the container and its
    checked exit.

    `up` waits for it (`attach`), but the Docker provider records the exit code without
    failing on it; the second value resolves to the container's id only if it exited 0,
    else fails the update with the command to read its log. What must not start after a
    failed step takes that value as an input (`after_step`).
    """
    container_name = f"{stack.prefix}-{name}"
    container = docker.Container(
        name,
        name=container_name,
        image=image,
        command=list(command),
        envs=envs,
        user=user,
        working_dir=working_dir,
        uploads=list(uploads) if uploads else None,
        volumes=volume_args(mounts) or None,
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network)],
        memory=service.memory_mb,
        memory_swap=service.memory_mb,
        restart="no",
        must_run=False,
        attach=True,
        logs=False,
        labels=labels(stack, service.name),
        **hardening_args(drop_capabilities=True),
        opts=opts,
    )

    def checked(exit_and_id: list[Any]) -> str:
        exit_code, container_id = exit_and_id
        if exit_code != 0:
            raise RuntimeError(
                f"{container_name} exited with code {exit_code}: nothing after it was started. "
                f"Its log: docker logs {container_name}"
            )
        return str(container_id)

    return container, pulumi.Output.all(container.exit_code, container.id).apply(checked)


AFTER_STEP_VARIABLE = "MLOPS_AFTER_STEP"


def after_step(envs: pulumi.Input[Sequence[pulumi.Input[str]]], step: pulumi.Output[str]) -> pulumi.Output[list[str]]:
    """`envs` plus the id of the one-shot step it must follow: unresolved (so nothing starts)
    unless the step succeeded, and a new step run restarts the service."""
    return pulumi.Output.all(pulumi.Output.from_input(envs), step).apply(
        lambda values: [*values[0], f"{AFTER_STEP_VARIABLE}={values[1]}"]
    )


def client_command(
    name: str,
    *,
    client: Client,
    action: str,
    environment: pulumi.Input[dict[str, pulumi.Input[str]]],
    opts: pulumi.ResourceOptions,
    triggers: Sequence[pulumi.Input[str]] | None = None,
) -> pulumi_command.local.Command:
    """Run `python -m mlops_clients.<module> <action>` from the project's virtualenv.

    Inputs and secrets travel in the environment only; output is kept out of
    the logs and stored as secret, since a service's answer may echo one.
    The relative interpreter path keeps the command identical on every machine
    (Pulumi runs commands from the project directory; Pulumi.yaml names .venv).
    """
    command = f".venv/bin/python {client.command(action)}"
    return pulumi_command.local.Command(
        name,
        create=command,
        update=command,
        environment=environment,
        logging=pulumi_command.local.Logging.STDERR,
        triggers=list(triggers) if triggers else None,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["stdout", "stderr"])),
    )
