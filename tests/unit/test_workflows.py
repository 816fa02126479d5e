"""The GitHub Actions workflows: actionlint on each, and the safety rules of the preview workflow.

actionlint is built from its Go module by scripts/actionlint.sh (scripts/test.sh runs it);
with `shellcheck` on PATH it also checks every `run:` script. Outside CI a missing
actionlint skips with the reason; in CI (CI=true) it fails.

The rules checked on the parsed YAML (what a reviewer must not lose by accident):
the fork guard of jobs on the self-hosted runner, least-privilege token permissions,
actions pinned by full commit SHA with a version comment, the `allow-data-loss` label as
the only data-loss override, one run per pull request, and secrets only through env.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.containers import unavailable

PROJECT_DIR = Path(__file__).resolve().parents[2]
WORKFLOWS_DIR = PROJECT_DIR / ".github" / "workflows"
PREVIEW = WORKFLOWS_DIR / "preview.yml"
PREVIEW_PR = PROJECT_DIR / "scripts" / "preview_pr.sh"  # what the workflow and Jenkins' preview job run
WORKFLOWS = sorted([*WORKFLOWS_DIR.glob("*.yml"), *WORKFLOWS_DIR.glob("*.yaml")])

# Custom labels of the project's self-hosted runner (actionlint rejects unknown labels).
RUNNER_LABELS = ["mlops-stack"]
FORK_GUARD = "github.event.pull_request.head.repo.full_name == github.repository"
DATA_LOSS_LABEL = "allow-data-loss"
# What a job may write with its GITHUB_TOKEN: the pull request's comment, nothing else.
ALLOWED_WRITES = {"pull-requests"}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+){0,2}\s*$")


def actionlint() -> str:
    """scripts/actionlint.sh's binary (or $ACTIONLINT, or one on PATH); skip/fail if there is none."""
    cache = Path(os.environ.get("MLOPS_CACHE_DIR") or Path.home() / ".cache" / "mlops-stack")
    for candidate in (os.environ.get("ACTIONLINT"), str(cache / "actionlint" / "bin" / "actionlint")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("actionlint")
    if found is None:
        unavailable("no actionlint: run scripts/actionlint.sh (builds it from its Go module)")
    assert found is not None
    return found


def load(path: Path) -> dict[Any, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path.name}: not a YAML mapping"
    return document


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` block (YAML 1.1 reads the bare key `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    assert isinstance(on, dict), "no `on:` block"
    return on


def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = workflow.get("jobs")
    assert isinstance(found, dict) and found, "no jobs"
    return found


def runner_labels(job: dict[str, Any]) -> list[str]:
    runs_on = job.get("runs-on", [])
    if isinstance(runs_on, str):
        return [runs_on]
    if isinstance(runs_on, dict):
        labels = runs_on.get("labels", [])
        return [labels] if isinstance(labels, str) else list(labels)
    return list(runs_on)


def steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in jobs(workflow).items():
        for step in job.get("steps", []):
            yield name, step


def preview_step(workflow: dict[str, Any]) -> dict[str, Any]:
    found = [step for _, step in steps(workflow) if "scripts/preview_pr.sh" in str(step.get("run", ""))]
    assert len(found) == 1, "the workflow must run scripts/preview_pr.sh in exactly one step"
    return found[0]


@pytest.fixture(scope="module")
def preview() -> dict[str, Any]:
    assert PREVIEW.is_file(), f"{PREVIEW.relative_to(PROJECT_DIR)} is missing"
    return load(PREVIEW)


def test_there_are_workflows() -> None:
    assert PREVIEW in WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_passes(path: Path) -> None:
    """With the repository's own config (.github/actionlint.yaml), as `actionlint` run there finds it."""
    binary = actionlint()
    config = yaml.safe_load((PROJECT_DIR / ".github" / "actionlint.yaml").read_text(encoding="utf-8"))
    assert config["self-hosted-runner"]["labels"] == RUNNER_LABELS
    done = subprocess.run(
        [binary, "-no-color", str(path)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"actionlint found problems in {path.name}:\n{done.stdout}{done.stderr}"


def test_self_hosted_jobs_never_run_pull_requests_from_forks(preview: dict[str, Any]) -> None:
    # A fork's code on the Docker host, as the stacks' owner: never. pull_request_target
    # would be worse still (the base's token and secrets next to the fork's code).
    assert "pull_request_target" not in triggers(preview)
    self_hosted = {name: job for name, job in jobs(preview).items() if "self-hosted" in runner_labels(job)}
    assert self_hosted, "the preview runs on the self-hosted runner on the Docker host"
    for name, job in self_hosted.items():
        condition = " ".join(str(job.get("if", "")).split())
        assert condition.startswith(FORK_GUARD + " &&") or condition == FORK_GUARD, (
            f"job {name}: its `if:` must start with `{FORK_GUARD} &&` (the fork guard, not inside an `||`)"
        )


def test_runs_on_the_docker_hosts_runner_on_pull_request_events(preview: dict[str, Any]) -> None:
    pull_request = triggers(preview).get("pull_request") or {}
    assert set(pull_request.get("types", [])) == {"opened", "synchronize", "reopened", "labeled", "unlabeled"}
    for name, job in jobs(preview).items():
        assert {"self-hosted", "linux", *RUNNER_LABELS} <= set(runner_labels(job)), f"job {name}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_least_privilege(path: Path) -> None:
    workflow = load(path)
    assert workflow.get("permissions") == {}, "the workflow's default token permissions must be `permissions: {}`"
    for name, job in jobs(workflow).items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"job {name}: permissions must be listed one by one"
        writes = {scope for scope, access in permissions.items() if access == "write"}
        assert writes <= ALLOWED_WRITES, f"job {name}: writes {sorted(writes - ALLOWED_WRITES)}"
        assert set(permissions.values()) <= {"read", "write", "none"}, f"job {name}: {permissions}"


def test_preview_token_reads_code_and_writes_the_comment_only(preview: dict[str, Any]) -> None:
    for name, job in jobs(preview).items():
        assert job.get("permissions") == {"contents": "read", "pull-requests": "write"}, f"job {name}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_sha_with_a_version_comment(path: Path) -> None:
    workflow = load(path)
    used = [str(step["uses"]) for _, step in steps(workflow) if "uses" in step]
    used += [str(job["uses"]) for job in jobs(workflow).values() if "uses" in job]  # reusable workflows
    lines = path.read_text(encoding="utf-8").splitlines()
    for ref in used:
        if ref.startswith("./"):
            continue  # an action or workflow of this repository, at this commit
        assert PINNED.match(ref), f"{ref}: pin it by its full 40-hex commit SHA"
        line = next(line for line in lines if ref in line)
        assert VERSION_COMMENT.search(line), f"{ref}: say which release the SHA is (`# vX.Y.Z`)"


def test_data_loss_is_overridden_only_by_the_pr_label(preview: dict[str, Any]) -> None:
    step = preview_step(preview)
    override = " ".join(str(step.get("env", {}).get("MLOPS_ALLOW_DATA_LOSS", "")).split())
    assert override == (
        f"${{{{ contains(github.event.pull_request.labels.*.name, '{DATA_LOSS_LABEL}') && '1' || '0' }}}}"
    )
    assert "--allow-data-loss" not in str(step["run"]), "the label is the only override"
    # Adding or removing the label must run the preview again.
    for name, job in jobs(preview).items():
        if "self-hosted" in runner_labels(job):
            assert f"github.event.label.name == '{DATA_LOSS_LABEL}'" in str(job.get("if", "")), f"job {name}"


def test_posts_the_comment_with_preview_comment(preview: dict[str, Any]) -> None:
    step = preview_step(preview)
    command = " ".join(str(step["run"]).replace("\\\n", " ").split())
    assert 'scripts/preview_pr.sh github "$GITHUB_REPOSITORY" "$PR_NUMBER" "$STACKS"' in command
    assert step["env"]["PR_NUMBER"] == "${{ github.event.pull_request.number }}"
    assert step["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    script = " ".join(PREVIEW_PR.read_text(encoding="utf-8").replace("\\\n", " ").split())
    assert "scripts/python-env.sh" in script and "source scripts/env.sh" in script
    assert '.venv/bin/python -m preview_comment "${args[@]}" --post "$forge" --repo "$repo" --pr "$pr"' in script
    assert "--allow-data-loss" not in script, "the label is the only override"


def test_one_run_per_pull_request(preview: dict[str, Any]) -> None:
    for name, job in jobs(preview).items():
        concurrency = job.get("concurrency") or preview.get("concurrency")
        assert isinstance(concurrency, dict), f"job {name}: no concurrency group"
        assert "github.event.pull_request.number" in str(concurrency.get("group", "")), f"job {name}"
        assert concurrency.get("cancel-in-progress") is True, f"job {name}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_only_through_env_and_no_tracing(path: Path) -> None:
    workflow = load(path)
    for job_name, step in steps(workflow):
        where = f"job {job_name}, step {step.get('name', step.get('uses', '?'))!r}"
        run = str(step.get("run", ""))
        assert "secrets." not in run and "github.token" not in run, f"{where}: a secret in the script; use env"
        assert not re.search(r"\bset\s+-[a-zA-Z]*x", run), f"{where}: `set -x` prints secrets"
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, (
                f"{where}: checkout must not leave the token in .git/config on the runner's disk"
            )
