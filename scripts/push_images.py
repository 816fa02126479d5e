"""Build and push the pipeline image of a stack, as its Jenkinsfile does, for stacks without Jenkins.

    source scripts/env.sh && .venv/bin/python scripts/push_images.py e2e

Clones the head of main of the stack's `de_datapreprocessing` repo, builds its
`runtime` stage and pushes `<commit>` and `latest` to the stack's registry,
logged in with the stack's registry account (in a throwaway Docker config, so
your own logins are untouched; for an external registry, your own `docker
login`). Where the Dockerfile's base image cannot be had (an offline machine),
the local Debian base of offline/ is used with this machine's CA bundle, as
the offline Jenkins setup does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mlops_clients.gitbucket import run_git

REPOSITORY = "de_datapreprocessing"
DEFAULT_BASE = "python:3.11-slim"  # the Dockerfile's
OFFLINE_BASE = "mlops-local/debian:bookworm"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
TIMEOUT = 3600


def stack_outputs(stack: str) -> dict[str, str]:
    """The stack's outputs, secrets included (kept in this process, never printed)."""
    done = subprocess.run(
        ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"cannot read the outputs of stack {stack}: {done.stderr.strip()[-500:]}")
    outputs = json.loads(done.stdout)
    missing = [k for k in ("appRepoCloneUrl", "registryPushPrefix", "gitbucketRootUser") if k not in outputs]
    if missing:
        raise SystemExit(f"stack {stack} has no {', '.join(missing)}: it needs GitBucket and a registry")
    return {k: str(v) for k, v in outputs.items()}


def docker(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> None:
    done = subprocess.run(["docker", *args], input=stdin, text=True, env=env, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"docker {args[0]} failed (exit {done.returncode})")


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True, timeout=60).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("stack", help="the stack whose GitBucket and registry to use, e.g. e2e")
    stack = parser.parse_args().stack
    out = stack_outputs(stack)
    user, password = out["gitbucketRootUser"], out["gitbucketRootPassword"]
    repo = f"{out['registryPushPrefix']}/{REPOSITORY}"
    with tempfile.TemporaryDirectory(prefix="mlops-push-") as scratch:
        work = Path(scratch) / REPOSITORY
        cloned = run_git(
            ["clone", "--quiet", "--branch", "main", out["appRepoCloneUrl"], str(work)], None, user, password
        )
        if cloned.returncode != 0:
            raise SystemExit(f"git clone {out['appRepoCloneUrl']} failed: {cloned.stderr.strip()[-300:]}")
        commit = run_git(["rev-parse", "HEAD"], work, user, password).stdout.strip()
        build = ["build", "--target", "runtime", "--build-arg", f"GIT_COMMIT={commit}"]
        if not image_exists(DEFAULT_BASE) and image_exists(OFFLINE_BASE):
            (work / "ca-bundle.crt").write_bytes(CA_BUNDLE.read_bytes())
            build += ["--build-arg", f"BASE_IMAGE={OFFLINE_BASE}", "--build-arg", "CA_BUNDLE=ca-bundle.crt"]
            build += ["--network", "host"]
            print(f"{DEFAULT_BASE} is not here: building on {OFFLINE_BASE}", flush=True)
        print(f"building {repo}:{commit}", flush=True)
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        docker(*build, "-t", f"{repo}:{commit}", "-t", f"{repo}:latest", str(work), env=env)
        if "registryPassword" in out:  # the local registry's login; for an external one, your own `docker login`
            env["DOCKER_CONFIG"] = str(Path(scratch) / "docker-config")
            server = out["registryPushPrefix"].split("/", 1)[0]
            docker(
                "login", "-u", out["registryUser"], "--password-stdin", server, env=env, stdin=out["registryPassword"]
            )
        for tag in (commit, "latest"):
            docker("push", f"{repo}:{tag}", env=env)
    print(f"pushed {repo}:{commit} and :latest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
