"""Before `pulumi up`: can this Docker engine get every image the stack runs?

    .venv/bin/python scripts/preflight.py <stack>

For each enabled service whose image is not on the engine yet, asks the engine
for the image's registry descriptor (no pull). When one cannot be had, prints
one line that says so and points to the offline stack, and exits 1: better
than a pull error per service followed by the program's traceback. A stack
whose config is invalid is left to `pulumi up`, which names every problem.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components import config
from components.platform import SERVICES

TIMEOUT = 30  # seconds, per question to the engine (it asks the registry)
PLACEHOLDER_SECRET = "x" * 32  # stands for an encrypted value: only images are read here


def stack_images(project_dir: Path, stack: str) -> list[str]:
    """The images of the stack's enabled services, from its Pulumi.<stack>.yaml and the services' pins."""
    project = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["name"]
    settings = yaml.safe_load((project_dir / f"Pulumi.{stack}.yaml").read_text()) or {}
    raw: dict[str, Any] = {config.SECRET_SEED_KEY: PLACEHOLDER_SECRET}  # scripts/up.sh sets it before `up`
    encrypted = {config.SECRET_SEED_KEY}
    for key, value in (settings.get("config") or {}).items():
        name = str(key).removeprefix(f"{project}:")
        if isinstance(value, dict) and "secure" in value:
            raw[name] = PLACEHOLDER_SECRET
            encrypted.add(name)
        else:
            raw[name] = value
    try:
        loaded = config.load(project, stack, raw, SERVICES, frozenset(encrypted), socket_gid=lambda _: 0)
    except config.ConfigError:
        return []
    return [service.image for name, service in loaded.services.items() if loaded.enabled(name)]


def unobtainable(client: docker.DockerClient, images: list[str]) -> dict[str, str]:
    """Image -> why the engine cannot get it, for the images it does not have."""
    problems: dict[str, str] = {}
    for image in images:
        try:
            client.images.get(image)
            continue
        except docker.errors.ImageNotFound:
            pass
        try:
            client.images.get_registry_data(image)
        except (docker.errors.APIError, requests.exceptions.RequestException) as error:
            problems[image] = str(getattr(error, "explanation", None) or error).splitlines()[0][:160]
    return problems


def main(stack: str) -> int:
    images = stack_images(Path(__file__).resolve().parent.parent, stack)
    client = docker.from_env(timeout=TIMEOUT)
    problems = unobtainable(client, images)
    if not problems:
        return 0
    first, why = next(iter(problems.items()))
    others = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
    print(
        f"this machine cannot pull the images of stack '{stack}' ({first}{others}: {why}); "
        "on an offline machine use the offline stack: scripts/up.sh e2e (README, 'Offline machines')",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: scripts/preflight.py <stack>")
    sys.exit(main(sys.argv[1]))
