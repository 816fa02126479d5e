"""End to end, the pull-request comment: `python -m preview_comment` run on the live stack, as
a CI job runs it, for no change, a port change and a change that loses data, and posted on
a pull request of the stack's own GitBucket; its output and the comment must quote no secret
output of the stack."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from secrets import token_hex

import pytest
import requests
from pulumi import automation as auto

from components.jenkins import PREVIEW_JENKINSFILE, PREVIEW_USER, preview_settings
from mlops_clients import gitbucket
from mlops_clients.contracts import GitBucketEnv
from tests.support import e2e_stack as e2e
from tests.support.jenkins_standin import preview_node_environment, run_jenkinsfile

pytestmark = pytest.mark.e2e


def preview_comment(
    stack: auto.Stack, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command as a CI job runs it: in the stack's project, with its backend and passphrase."""
    return e2e.in_project(stack, [sys.executable, "-m", "preview_comment", "--stack", stack.name, *args], env)


def assert_no_secret(stack: auto.Stack, done: subprocess.CompletedProcess[str]) -> None:
    secrets = {k: str(v.value) for k, v in stack.outputs().items() if v.secret}
    leaked = sorted(k for k, value in secrets.items() if value in done.stdout or value in done.stderr)
    assert not leaked, f"the comment or its output quotes {leaked}"


def test_the_comment_of_live_previews(stack: auto.Stack) -> None:
    stack.up(on_output=print)  # a no-op after the other tests; a cold up when run alone
    unchanged = preview_comment(stack)
    assert unchanged.returncode == 0, unchanged.stderr[-2000:]
    assert f"- **{stack.name}**: no changes" in unchanged.stdout, unchanged.stdout[:2000]
    assert_no_secret(stack, unchanged)

    port_key = "airflow.port"
    old_port = int(stack.get_config(port_key, path=True).value)
    try:
        stack.set_config(port_key, auto.ConfigValue(value=str(e2e.free_ports(1)[0])), path=True)
        moved = preview_comment(stack)
        assert moved.returncode == 0, moved.stderr[-2000:]
        assert "1 to update" in moved.stdout or "to replace" in moved.stdout, moved.stdout[:2000]
        assert f"{old_port}" in moved.stdout and "→" in moved.stdout, moved.stdout[:3000]
        assert_no_secret(stack, moved)

        # A volume is kept on delete by the state's `retainOnDelete`: that is the setting a delete
        # obeys, so volumes stop being retained with an `up` (README, Teardown). Then MLflow
        # (and the model API, which needs it) disabled: its user store would be lost.
        stack.set_config(port_key, auto.ConfigValue(value=str(old_port)), path=True)
        stack.set_config("retainVolumes", auto.ConfigValue(value="false"))
        stack.up(on_output=print)
        stack.set_config("mlflow.enabled", auto.ConfigValue(value="false"), path=True)
        stack.set_config("modelApi.enabled", auto.ConfigValue(value="false"), path=True)  # it needs MLflow
        lost = preview_comment(stack)
        assert lost.returncode == 2, lost.stderr[-2000:]
        assert "LOST" in lost.stdout and "mlflow-auth" in lost.stdout, lost.stdout[:3000]
        assert "--allow-data-loss" in lost.stderr
        assert_no_secret(stack, lost)
        allowed = preview_comment(stack, "--allow-data-loss")
        assert allowed.returncode == 0, allowed.stderr[-2000:]
    finally:  # the stack's config as Pulumi.e2e.yaml gave it
        stack.set_config(port_key, auto.ConfigValue(value=str(old_port)), path=True)
        stack.set_config("retainVolumes", auto.ConfigValue(value="true"))
        stack.remove_config("mlflow.enabled", path=True)
        stack.remove_config("modelApi.enabled", path=True)
        stack.up(on_output=print)
    again = preview_comment(stack)
    assert again.returncode == 0 and f"- **{stack.name}**: no changes" in again.stdout, again.stdout[:2000]


def open_pull_request(work: Path, url: str, root: tuple[str, str], repo: str) -> tuple[int, str]:
    """`work` (what it holds) committed as main, an empty commit on branch `change`, both pushed
    to root/<repo> in the stack's GitBucket, and a pull request of change into main: its number
    and head commit."""
    work.mkdir(parents=True, exist_ok=True)
    author = ["-c", "user.name=e2e", "-c", "user.email=e2e@localhost"]
    for args in (
        ["init", "--quiet", "--initial-branch", "main", str(work)],
        ["-C", str(work), "add", "--all"],
        [*author, "-C", str(work), "commit", "--quiet", "--allow-empty", "-m", "Infrastructure"],
        ["-C", str(work), "checkout", "--quiet", "-b", "change"],
        [*author, "-C", str(work), "commit", "--quiet", "--allow-empty", "-m", "A change to review"],
    ):
        assert subprocess.run(["git", *args], capture_output=True, check=False, timeout=60).returncode == 0, args
    head = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    clone_url = f"{url}/git/root/{repo}.git"  # the API names the in-network address
    for branch in ("main", "change"):
        pushed = gitbucket.run_git(["push", "--quiet", clone_url, branch], work, *root)
        assert pushed.returncode == 0, pushed.stderr
    pull = requests.post(
        f"{url}/api/v3/repos/root/{repo}/pulls",
        json={"title": "A change to review", "head": "change", "base": "main"},
        auth=root,
        timeout=30,
    )
    assert pull.status_code in (200, 201), pull.text
    return int(pull.json()["number"]), head.stdout.strip()


def test_the_comment_is_posted_and_updated_on_a_pull_request_in_the_stacks_gitbucket(
    stack: auto.Stack, tmp_path: Path
) -> None:
    """The infrastructure repo living in the platform's own (FAKE) GitBucket: its pull request
    gets the comment, updated in place on the next run, never duplicated, quoting no secret."""
    out = {k: v.value for k, v in stack.outputs().items()}
    url, root = str(out["gitbucketUrl"]), (str(out["gitbucketRootUser"]), str(out["gitbucketRootPassword"]))
    api = gitbucket.GitBucketAPI(url, *root)
    api.ensure_repo("mlops_stack_infra", "this project, reviewed by pull request")
    number = str(open_pull_request(tmp_path / "infra", url, root, "mlops_stack_infra")[0])
    forge_env = {str(GitBucketEnv.URL): url, str(GitBucketEnv.USER): root[0], str(GitBucketEnv.PASSWORD): root[1]}
    post = ("--post", "gitbucket", "--repo", "root/mlops_stack_infra", "--pr", number)

    first = preview_comment(stack, *post, env=forge_env)
    assert first.returncode == 0 and "created" in first.stderr, first.stderr[-2000:]
    second = preview_comment(stack, *post, env=forge_env)
    assert second.returncode == 0 and ("updated" in second.stderr or "unchanged" in second.stderr), second.stderr
    comments = requests.get(
        f"{url}/api/v3/repos/root/mlops_stack_infra/issues/{number}/comments", auth=root, timeout=30
    ).json()
    assert len(comments) == 1, [c["id"] for c in comments]
    [comment] = comments
    assert f"<!-- mlops-stack-preview:{stack.name} -->" in comment["body"]
    assert f"- **{stack.name}**: no changes" in comment["body"]
    secrets = {k: str(v.value) for k, v in stack.outputs().items() if v.secret}
    for text in (comment["body"], first.stdout, first.stderr, second.stdout, second.stderr):
        assert not [k for k, value in secrets.items() if value in text]


# What the preview job runs from the pull request, beside the program the stack's run has.
PREVIEW_JOB_FILES = ("scripts", "preview_comment", "requirements-dev.txt", ".jenkins")


def test_the_jenkins_preview_job_comments_on_a_pull_request_of_the_infra_repo(
    stack: auto.Stack, tmp_path: Path
) -> None:
    """Jenkins' preview job (.jenkins/preview.Jenkinsfile) run by the JENKINS STAND-IN as the
    agent on the Docker host runs it, with the node's variables as JCasC makes them from the
    program's settings and the preview account's credential: it fetches refs/pull/<n>/head from the stack's (FAKE)
    GitBucket, previews the stack from that checkout and comments; no secret in its log."""
    stack.up(on_output=print)  # a no-op after the other tests; a cold up when run alone
    out = {k: v.value for k, v in stack.outputs().items()}
    url, root = str(out["gitbucketUrl"]), (str(out["gitbucketRootUser"]), str(out["gitbucketRootPassword"]))
    repo = "mlops_stack_previewed"
    api = gitbucket.GitBucketAPI(url, *root)
    # As the program does for jenkins.previewRepo: a private repository that only the preview
    # account reads (Jenkins alone holds its password).
    reader = (PREVIEW_USER, token_hex(16))
    gitbucket.ensure_account(api, *reader, write_password=lambda user, _: pytest.fail(f"{user} existed"))
    assert api.ensure_repo(repo, "this project, previewed by Jenkins")["private"] is True
    api.ensure_collaborator("root", repo, reader[0], "pull")
    clone_url = f"{url}/git/root/{repo}.git"
    # The pull request holds this project as the run has it (its Pulumi.<stack>.yaml included).
    work = tmp_path / "infra"
    shutil.copytree(Path(str(stack.workspace.work_dir)), work, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    for name in PREVIEW_JOB_FILES:
        source = e2e.PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, work / name)
    number, head = open_pull_request(work, url, root, repo)

    workspace = tmp_path / "agent" / f"PR-{number}"
    workspace.mkdir(parents=True)
    (workspace / ".venv").symlink_to(e2e.PROJECT_DIR / ".venv")  # a workspace's .venv is kept between builds
    cache = os.environ.get("MLOPS_CACHE_DIR") or str(Path.home() / ".cache" / "mlops-stack")
    # What the build sees: its branch, the node's variables as JCasC makes them from what the
    # program gives the Jenkins container, and the agent's own environment.
    controller = preview_settings(
        repo_url=f"http://gitbucket:8080/git/root/{repo}.git",
        repo_host_url=clone_url,
        repo=f"root/{repo}",
        gitbucket_host_url=url,
        stacks=[stack.name],
        agent_dir=str(tmp_path / "agent"),
    )
    job_env = {
        "BRANCH_NAME": f"PR-{number}",
        **preview_node_environment(controller),
        # The agent's account: its toolchain, Pulumi home, state backend and passphrase.
        "MLOPS_CACHE_DIR": cache,
        **{k: v for k, v in os.environ.items() if k.startswith("PIP_") or k == "DOCKER_HOST"},
        **stack.workspace.env_vars,
    }
    credentials = {"gitbucket-preview": {"username": reader[0], "password": reader[1]}}
    build = run_jenkinsfile(
        workspace, job_env, credentials, timeout=900, jenkinsfile=e2e.PROJECT_DIR / PREVIEW_JENKINSFILE
    )
    log = build.stdout + build.stderr
    assert build.returncode == 0, log[-4000:]
    assert f"pull request {number} at {head}" in log
    comments = requests.get(f"{url}/api/v3/repos/root/{repo}/issues/{number}/comments", auth=root, timeout=30).json()
    [comment] = comments
    assert comment["user"]["login"] == PREVIEW_USER
    assert f"- **{stack.name}**: no changes" in comment["body"], comment["body"][:2000]
    stack_secrets = {k: str(v.value) for k, v in stack.outputs().items() if v.secret}
    for text in (comment["body"], log):
        assert not [k for k, value in stack_secrets.items() if value in text]
        assert reader[1] not in text
    assert reader[1] not in (workspace / ".git" / "config").read_text()  # not kept on disk
