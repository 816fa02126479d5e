"""Jenkins, on a stack that runs it: configuration as code loaded, every plugin started, the
multibranch job scanned, and a push built through GitBucket's webhook with no manual step.

NEVER RUN on this project's machines (Jenkins cannot be had here): written against
Jenkins' REST API and script console as documented, for users with the official images.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from components.jenkins import PIPELINE_JOB
from mlops_clients import gitbucket
from tests.acceptance.live import TIMEOUT, Live
from tests.acceptance.report import Report
from tests.support.containers import wait_until

pytestmark = pytest.mark.acceptance

IMAGE = "de_datapreprocessing"
CASC_SYSTEM_MESSAGE = "Managed by mlops-stack (configuration as code)"
# Run in the script console as the admin: what failed to load, and whether JCasC applied.
HEALTH_SCRIPT = """
def j = jenkins.model.Jenkins.get()
def pm = j.pluginManager
println(groovy.json.JsonOutput.toJson([
  failed: pm.failedPlugins.collect { it.name + ': ' + (it.cause?.message ?: 'failed') },
  inactive: pm.plugins.findAll { !it.isActive() }.collect { it.shortName },
  systemMessage: j.systemMessage ?: '',
]))
"""


class JenkinsAPI:
    """The admin's session: Jenkins wants a crumb (CSRF) on every POST made with a password."""

    def __init__(self, live: Live) -> None:
        self.url = live.out("jenkinsUrl").rstrip("/")
        self.session = requests.Session()
        self.session.auth = (live.out("jenkinsAdminUser"), live.out("jenkinsAdminPassword"))

    def get(self, path: str, **params: str) -> Any:
        answer = self.session.get(f"{self.url}{path}", params=params, timeout=TIMEOUT)
        assert answer.status_code == 200, f"GET {path}: {answer.status_code}"
        return answer.json()

    def script(self, text: str) -> Any:
        crumb = self.get("/crumbIssuer/api/json")
        answer = self.session.post(
            f"{self.url}/scriptText",
            data={"script": text},
            headers={crumb["crumbRequestField"]: crumb["crumb"]},
            timeout=TIMEOUT,
        )
        assert answer.status_code == 200, f"script console: {answer.status_code}"
        return json.loads(answer.text.strip().splitlines()[-1])


def test_configuration_as_code_and_plugins(live: Live) -> None:
    """Jenkins: the JCasC configuration applied, no plugin failed or inactive (dependencies resolved)"""
    state = JenkinsAPI(live).script(HEALTH_SCRIPT)
    assert state["failed"] == [], f"failed plugins: {state['failed']}"
    assert state["inactive"] == [], f"inactive plugins: {state['inactive']}"
    assert state["systemMessage"].startswith(CASC_SYSTEM_MESSAGE), "the JCasC file was not applied"


def test_multibranch_job_scanned_main(live: Live) -> None:
    """Jenkins: the multibranch job exists and its scan found main (and no data/* branch)"""
    branches = {j["name"] for j in JenkinsAPI(live).get(f"/job/{PIPELINE_JOB}/api/json", tree="jobs[name]")["jobs"]}
    assert "main" in branches, f"branches found: {sorted(branches)}"
    assert not [b for b in branches if b.startswith("data")], f"data branches are built: {sorted(branches)}"


def test_push_builds_and_pushes_the_image(live: Live, report: Report, tmp_path: Path) -> None:
    """Jenkins: an (empty) commit pushed to main starts a build through the webhook; its image lands in the registry"""
    jenkins = JenkinsAPI(live)
    user, password = live.out("gitbucketRootUser"), live.out("gitbucketRootPassword")
    work = tmp_path / "repo"
    clone = gitbucket.run_git(
        ["clone", "--quiet", "--depth", "1", live.out("appRepoCloneUrl"), str(work)], None, user, password
    )
    assert clone.returncode == 0, clone.stderr[-300:]
    author = ["-c", "user.name=mlops-stack verify", "-c", "user.email=verify@localhost"]
    message = "verify: a build through the push webhook (scripts/verify.sh; no change)"
    assert gitbucket.run_git([*author, "commit", "--allow-empty", "-m", message], work, user, password).returncode == 0
    commit = gitbucket.run_git(["rev-parse", "HEAD"], work, user, password).stdout.strip()
    pushed_at = time.time()
    push = gitbucket.run_git(["push", "--quiet", "origin", "HEAD:main"], work, user, password)
    assert push.returncode == 0, push.stderr[-300:]

    def build_of_commit() -> dict[str, Any] | None:
        builds = jenkins.get(
            f"/job/{PIPELINE_JOB}/job/main/api/json",
            tree="builds[number,timestamp,result,actions[lastBuiltRevision[SHA1]]]",
        )["builds"]
        for build in builds:
            revisions = [a["lastBuiltRevision"]["SHA1"] for a in build["actions"] if a and a.get("lastBuiltRevision")]
            if commit in revisions:
                return dict(build)
        return None

    build = wait_until(build_of_commit, timeout=300, what=f"a build of {commit[:12]}", interval=2)
    report.timing("push to build start (Jenkins)", build["timestamp"] / 1000 - pushed_at)

    registry = live.outputs.get("registryUrl")
    if registry is None:
        pytest.skip("an external registry: the image's arrival is not checked (no login in the outputs)")
    login = (live.out("registryUser"), live.out("registryPassword"))

    def tagged() -> bool:
        answer = requests.get(f"{registry}/v2/{IMAGE}/tags/list", auth=login, timeout=TIMEOUT)
        return answer.status_code == 200 and commit in (answer.json().get("tags") or [])

    wait_until(tagged, timeout=1800, what=f"{IMAGE}:{commit} in the registry", interval=5)
    report.timing("push to image in the registry (Jenkins)", time.time() - pushed_at)
