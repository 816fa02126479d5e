"""Build and push the pipeline images of a stack, as their Jenkinsfiles do, for stacks without Jenkins.

    source scripts/env.sh && .venv/bin/python scripts/push_images.py e2e [repo ...]

For each seeded repo with an image (`de_datapreprocessing`, and `ds_mlmodeling`
when the stack runs MLflow; or the ones named): clones the head of its main,
builds its `runtime` stage and pushes `<commit>` and `latest` to the stack's registry,
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

from components.gitbucket import APP_REPO, TRAINING_REPO
from mlops_clients.gitbucket import run_git

# Each repo with a Jenkinsfile, and the stack output that names its clone URL.
REPOSITORIES = {repo.name: repo.output for repo in (APP_REPO, TRAINING_REPO)}  # the images the pipelines run
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
    missing = [k for k in ("registryPushPrefix", "gitbucketRootUser") if k not in outputs]
    if missing:
        raise SystemExit(f"stack {stack} has no {', '.join(missing)}: it needs GitBucket and a registry")
    return {k: str(v) for k, v in outputs.items()}


def docker(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> None:
    done = subprocess.run(["docker", *args], input=stdin, text=True, env=env, timeout=TIMEOUT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"docker {args[0]} failed (exit {done.returncode})")


def image_exists(name: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", name], capture_output=True, timeout=60).returncode == 0


def build_and_push(out: dict[str, str], repository: str, clone_url: str, scratch: Path) -> str:
    """The image of one repo's main, pushed as `<commit>` and `latest`: its name."""
    user, password = out["gitbucketRootUser"], out["gitbucketRootPassword"]
    repo = f"{out['registryPushPrefix']}/{repository}"
    work = scratch / repository
    cloned = run_git(["clone", "--quiet", "--branch", "main", clone_url, str(work)], None, user, password)
    if cloned.returncode != 0:
        raise SystemExit(f"git clone {clone_url} failed: {cloned.stderr.strip()[-300:]}")
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
        env["DOCKER_CONFIG"] = str(scratch / f"docker-config-{repository}")
        server = out["registryPushPrefix"].split("/", 1)[0]
        docker("login", "-u", out["registryUser"], "--password-stdin", server, env=env, stdin=out["registryPassword"])
    for tag in (commit, "latest"):
        docker("push", f"{repo}:{tag}", env=env)
    return f"{repo}:{commit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("stack", help="the stack whose GitBucket and registry to use, e.g. e2e")
    parser.add_argument("repos", nargs="*", help=f"some of {', '.join(REPOSITORIES)}; default: every one the stack has")
    args = parser.parse_args()
    unknown = sorted(set(args.repos) - set(REPOSITORIES))
    if unknown:
        parser.error(f"no image is built from {', '.join(unknown)} (known: {', '.join(REPOSITORIES)})")
    out = stack_outputs(args.stack)
    wanted = args.repos or [name for name, output in REPOSITORIES.items() if output in out]
    missing = [name for name in wanted if REPOSITORIES[name] not in out]
    if missing:
        raise SystemExit(f"stack {args.stack} has no {', '.join(missing)} repo (GitBucket off, or MLflow off)")
    with tempfile.TemporaryDirectory(prefix="mlops-push-") as scratch:
        for name in wanted:
            pushed = build_and_push(out, name, out[REPOSITORIES[name]], Path(scratch))
            print(f"pushed {pushed} and :latest", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
