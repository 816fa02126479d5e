"""Drive the real program with Pulumi's Automation API on a local file backend.

Shared by the end-to-end test and the benchmark. The project is copied into a
scratch folder (so stack files written by `stack init` never touch the checkout)
with the project's virtualenv linked in. Each run is a stack of its own: a name
made for this process (so its Docker objects carry a label no user's stack has)
on the config of Pulumi.e2e.yaml with host ports the OS hands out. A user's
`e2e` stack (scripts/up.sh e2e) on the same engine is never touched.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from components.platform import SERVICES
from tests.support.second_engine import SecondEngine

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt")
PROJECT_DIRS = ("components", "mlops_clients", "model_api", "monitoring", "dags", "gitbucket_repos", "images")
CONFIG_SOURCE = "Pulumi.e2e.yaml"
STACK = f"e2etest-{secrets.token_hex(4)}"  # one per run: never a user's stack name
PREFIX = f"mlops-stack-{STACK}"
# Every host port a service declares (components/*.py SPEC.ports), moved to a free one for this run.
PORT_KEYS = tuple(f"{spec.name}.{key}" for spec in SERVICES for key in spec.ports)
PASSPHRASE = "e2e-only-passphrase"  # guards the throwaway state of a test run, nothing else


def toolchain_missing() -> str | None:
    """Why the engine cannot run here, or None."""
    if shutil.which("pulumi") is None:
        return "no `pulumi` on PATH (offline/toolchain.sh builds it; source scripts/env.sh)"
    return None


# MySQL ready -> the database and user -> the migration -> Airflow healthy: the waits the
# services really need before the stack is usable (README, "Benchmarks").
INTRINSIC_CHAIN = ("mysql-server", "mysql-db-airflow-ensure", "airflow-init", "airflow-api-server")


@dataclass(frozen=True)
class Step:
    name: str
    start: float  # seconds from the first event
    end: float


@dataclass
class Timings:
    """When each resource's step started and ended, from the engine's own events (seconds)."""

    started: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)

    def on_event(self, event: auto.events.EngineEvent) -> None:
        if event.resource_pre_event is not None:
            self.started.setdefault(event.resource_pre_event.metadata.urn, float(event.timestamp))
        elif event.res_outputs_event is not None:
            self.ended[event.res_outputs_event.metadata.urn] = float(event.timestamp)

    def _steps(self) -> dict[str, Step]:
        origin = min(self.started.values())
        return {
            urn: Step(urn.rsplit("::", 1)[-1], self.started[urn] - origin, self.ended[urn] - origin)
            for urn in self.ended
            if urn in self.started
        }

    def critical_chain(self, deployment: Mapping[str, Any] | None) -> list[Step]:
        """The longest sequence of waits along the real dependencies (from the state): from the
        resource that finished last, back through the dependency each step waited for longest."""
        steps = self._steps()
        assert deployment is not None, "the stack has no state to read dependencies from"
        resources = {r["urn"]: r for r in deployment["resources"]}
        children: dict[str, list[str]] = {}
        for resource in resources.values():
            if resource.get("parent"):
                children.setdefault(resource["parent"], []).append(resource["urn"])

        def expanded(urn: str) -> list[str]:
            """A dependency on a component is one on all it contains."""
            found = [urn] if urn in steps else []
            for child in children.get(urn, []):
                found.extend(expanded(child))
            return found

        chain: list[Step] = []
        current: str | None = max(
            (u for u in steps if "pulumi:pulumi:Stack" not in u and "::pulumi:providers:" not in u),
            key=lambda u: steps[u].end,
        )
        while current is not None:
            chain.append(steps[current])
            waited = [d for dep in resources.get(current, {}).get("dependencies", []) for d in expanded(dep)]
            waited = [d for d in waited if steps[d].end <= steps[current].start + 0.5]
            current = max(waited, key=lambda d: steps[d].end) if waited else None
        return list(reversed(chain))

    def intrinsic_chain(self) -> list[Step]:
        by_name = {step.name: step for step in self._steps().values()}
        return [by_name[name] for name in INTRINSIC_CHAIN]


def chain_seconds(chain: list[Step]) -> float:
    """What a chain costs when every step starts as soon as the one before it ends."""
    return sum(step.end - step.start for step in chain)


def run_stack_settings(source: Path) -> dict[str, Any]:
    """The config of Pulumi.e2e.yaml without what `scripts/up.sh e2e` may have added for a user's
    own `e2e` stack (its encryption salt, its encrypted secretSeed): this run sets its own."""
    settings = yaml.safe_load(source.read_text()) or {}
    config = {k: v for k, v in (settings.get("config") or {}).items() if not (isinstance(v, dict) and "secure" in v)}
    return {"config": config}


def copy_project(target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        shutil.copy2(PROJECT_DIR / name, target / name)
    (target / f"Pulumi.{STACK}.yaml").write_text(yaml.safe_dump(run_stack_settings(PROJECT_DIR / CONFIG_SOURCE)))
    for name in PROJECT_DIRS:
        shutil.copytree(
            PROJECT_DIR / name,
            target / name,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"),
        )
    venv = target / ".venv"
    if not venv.exists():
        venv.symlink_to(PROJECT_DIR / ".venv")
    return target


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (held open together, so all differ)."""
    sockets = []
    try:
        for _ in range(count):
            held = socket.socket()
            held.bind(("127.0.0.1", 0))
            sockets.append(held)
        return [held.getsockname()[1] for held in sockets]
    finally:
        for held in sockets:
            held.close()


@contextmanager
def e2e_stack(scratch: Path) -> Iterator[auto.Stack]:
    """A new stack of this run's own in `scratch`; afterwards, destroys it and removes
    the Docker objects labelled with its name (all of them made by this run)."""
    if stack_containers() or stack_networks() or stack_volumes():
        raise RuntimeError(f"Docker objects labelled {PREFIX} exist already: not ours to touch")
    work_dir = copy_project(scratch / "project")
    state = scratch / "state"
    state.mkdir(parents=True, exist_ok=True)
    env = {
        "PULUMI_BACKEND_URL": f"file://{state}",
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_HOME": os.environ.get("PULUMI_HOME", str(Path.home() / ".pulumi")),
    }
    stack = auto.create_or_select_stack(
        stack_name=STACK, work_dir=str(work_dir), opts=auto.LocalWorkspaceOptions(env_vars=env)
    )
    # Retained volumes need passwords that outlive destroy: a seed, as scripts/up.sh sets.
    stack.set_config("secretSeed", auto.ConfigValue(value=secrets.token_urlsafe(32), secret=True))
    ports = dict(zip(PORT_KEYS, free_ports(len(PORT_KEYS)), strict=True))
    for key, port in ports.items():
        stack.set_config(key, auto.ConfigValue(value=str(port)), path=True)
    try:
        yield stack
    finally:
        try:
            stack.destroy(on_output=print)
        finally:
            remove_docker_objects(volumes=True)
            remove_images(ports["registry.port"])


AIRFLOW_IMAGE = "mlops-local/airflow:3.3.2"  # Pulumi.e2e.yaml's airflow.image
# With a second engine: tasks of a lost host are failed and retried after this long (Airflow's default: 300 s).
HEARTBEAT_TIMEOUT_SECONDS = 60


def copy_image(image: str, engine: SecondEngine) -> None:
    """An image of the main engine, loaded into the second one (it can pull nothing from outside)."""
    with subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE) as save:
        loaded = subprocess.run(
            ["docker", "--host", f"unix://{engine.socket}", "load", "--quiet"],
            stdin=save.stdout,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    assert save.returncode == 0 and loaded.returncode == 0, loaded.stderr


def worker_host_entry(engine: SecondEngine, workers: int = 1) -> dict[str, Any]:
    """The second engine as an `airflow.workerHosts` entry."""
    return {
        "host": engine.url,
        "workers": workers,
        "certPath": str(engine.cert_dir),
        "socketGid": engine.socket.stat().st_gid,
        "dockerSocket": str(engine.socket),
    }


def add_worker_host(
    stack: auto.Stack, engine: SecondEngine, heartbeat_timeout: int = HEARTBEAT_TIMEOUT_SECONDS
) -> None:
    """Workers on the main engine and on `engine`; the services published for it on this host's end of the pair."""
    hosts = [{"host": "main", "workers": 1}, worker_host_entry(engine)]
    stack.set_config("workerAddress", auto.ConfigValue(value=engine.host_address))
    set_worker_hosts(stack, hosts)
    stack.set_config("airflow.taskHeartbeatTimeoutSeconds", auto.ConfigValue(value=str(heartbeat_timeout)), path=True)


def set_worker_hosts(stack: auto.Stack, hosts: list[dict[str, Any]]) -> None:
    """`airflow.workerHosts`, key by key (`config set --path` types numbers as YAML does)."""
    stack.remove_config("airflow.workerHosts", path=True)
    for index, entry in enumerate(hosts):
        for key, value in entry.items():
            stack.set_config(f"airflow.workerHosts[{index}].{key}", auto.ConfigValue(value=str(value)), path=True)


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()


def stack_containers(all_states: bool = True) -> list[str]:
    flags = ["-a"] if all_states else []
    out = docker("ps", *flags, "--filter", f"label=mlops.stack={PREFIX}", "--format", "{{.Names}}")
    return sorted(out.split()) if out else []


def stack_networks() -> list[str]:
    out = docker("network", "ls", "--filter", f"label=mlops.stack={PREFIX}", "--format", "{{.Name}}")
    return sorted(out.split()) if out else []


def stack_volumes() -> list[str]:
    out = docker("volume", "ls", "--filter", f"label=mlops.stack={PREFIX}", "--format", "{{.Name}}")
    return sorted(out.split()) if out else []


def remove_docker_objects(volumes: bool) -> None:
    """Remove what this run's stack owns, by its label: never anything else (no prune)."""
    for name in stack_containers():
        docker("rm", "-f", "-v", name)
    for name in stack_networks():
        docker("network", "rm", name)
    if volumes:
        for name in stack_volumes():
            docker("volume", "rm", name)


def remove_images(registry_port: int) -> None:
    """Images this run made: the program's derived images (named after its stack) and what its
    builds tagged for its registry (`localhost:<its port>/...`, pushed from the host's engine)."""
    for reference in (f"{PREFIX}-*", f"localhost:{registry_port}/*"):
        out = docker("images", "--filter", f"reference={reference}", "--format", "{{.Repository}}:{{.Tag}}")
        for image in sorted(set(out.split())):
            subprocess.run(["docker", "rmi", "--force", image], capture_output=True, text=True, check=False)


def inspect(name: str) -> dict[str, Any]:
    return dict(json.loads(docker("inspect", name))[0])


def idle_memory_mib() -> dict[str, float]:
    """Memory in use per running container of the stack (`docker stats`)."""
    names = stack_containers(all_states=False)
    out = docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", *names)
    usage: dict[str, float] = {}
    for line in out.splitlines():
        name, amount = line.split(" ", 1)
        value = amount.split("/")[0].strip()
        number, unit = float(value.rstrip("KMGiB")), value.lstrip("0123456789.")
        usage[name] = number * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "B": 1 / 1024 / 1024}[unit]
    return usage


def stored_state_text(stack: auto.Stack) -> str:
    """Everything the file backend keeps of the stack, as it lies on disk (state,
    backups, history): the Automation API's export would decrypt the secrets."""
    workspace = stack.workspace
    assert isinstance(workspace, auto.LocalWorkspace)
    root = Path(workspace.env_vars["PULUMI_BACKEND_URL"].removeprefix("file://")) / ".pulumi"
    texts = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        texts.append(data.decode(errors="replace"))
    assert texts, f"no state under {root}"
    return "\n".join(texts)


def in_project(
    stack: auto.Stack, command: list[str], env: Mapping[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run a command as a user or a CI job would on this run's stack: in its project, with its
    backend and passphrase, and this checkout's modules importable; output captured."""
    workspace = stack.workspace
    assert isinstance(workspace, auto.LocalWorkspace) and workspace.work_dir is not None
    return subprocess.run(
        command,
        cwd=workspace.work_dir,
        env={**os.environ, **workspace.env_vars, "PYTHONPATH": str(PROJECT_DIR), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def verify(stack: auto.Stack, report: Path, *pytest_args: str) -> tuple[int, str, str]:
    """Run `scripts/verify.sh` (the acceptance tier, as users run it) on this run's stack:
    (exit status, its output, the report it wrote)."""
    done = in_project(
        stack,
        ["bash", str(PROJECT_DIR / "scripts" / "verify.sh"), stack.name, *pytest_args],
        {"MLOPS_VERIFY_PROJECT_DIR": str(stack.workspace.work_dir), "MLOPS_VERIFY_REPORT": str(report)},
        timeout=3600,
    )
    return done.returncode, done.stdout + done.stderr, report.read_text() if report.exists() else ""
