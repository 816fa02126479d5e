"""Jenkins' configuration as code agrees with what the program gives the container.

Jenkins cannot run here, so these checks tie images/jenkins/casc/jenkins.yaml to
components/jenkins.py: an unset `${VAR}` would make JCasC fail at Jenkins' start.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.unit.conftest import Evaluation, env_of, plain

ROOT = Path(__file__).resolve().parents[2]
CASC = ROOT / "images" / "jenkins" / "casc" / "jenkins.yaml"
JENKINSFILE = ROOT / "gitbucket_repos" / "de_datapreprocessing" / "Jenkinsfile"
# ${NAME} or ${NAME:-default}, as JCasC substitutes them (not ${...} inside the Job DSL's Groovy).
_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(:-[^}]*)?\}")


def casc() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CASC.read_text())
    return loaded


def container_env(evaluation: Evaluation) -> dict[str, str]:
    return env_of(evaluation.named("jenkins-server"))


def test_every_variable_the_casc_file_needs_is_set_by_the_program(dev: Evaluation) -> None:
    needed = {name for name, default in _VARIABLE.findall(CASC.read_text()) if not default}
    assert needed, "the casc file uses no variable: the pattern is wrong"
    assert needed <= container_env(dev).keys()


def test_the_jenkinsfile_global_properties_come_from_the_casc_file() -> None:
    properties = casc()["jenkins"]["globalNodeProperties"][0]["envVars"]["env"]
    defined = {p["key"] for p in properties}
    used_by_jenkinsfile = set(re.findall(r"env\.([A-Z_]+)", JENKINSFILE.read_text()))
    jenkins_sets = {"BRANCH_NAME", "WORKSPACE", "GIT_COMMIT", "BUILD_NUMBER"}
    assert {"REGISTRY", "REGISTRY_AUTH"} <= used_by_jenkinsfile
    assert used_by_jenkinsfile - jenkins_sets <= defined


def test_the_credentials_the_jenkinsfile_uses_exist() -> None:
    ids = {c["usernamePassword"]["id"] for c in casc()["credentials"]["system"]["domainCredentials"][0]["credentials"]}
    used = set(re.findall(r"credentialsId:\s*'([^']+)'", JENKINSFILE.read_text()))
    used |= set(re.findall(r"credentialsId\('([^']+)'\)", casc()["jobs"][0]["script"]))
    assert used == {"registry", "gitbucket"} and used <= ids


def test_the_pipeline_job_is_the_one_the_outputs_name(dev: Evaluation) -> None:
    script = casc()["jobs"][0]["script"]
    assert "multibranchPipelineJob('de_datapreprocessing_pipeline')" in script
    assert str(dev.outputs["jenkinsPipelineUrl"]).endswith("/job/de_datapreprocessing_pipeline/")
    assert "remote('${PIPELINE_REPO_URL}')" in script


def test_the_push_webhook_names_the_repo_the_pipeline_job_builds(dev: Evaluation) -> None:
    from urllib.parse import parse_qs, urlsplit

    hook_url = plain(dev.named("gitbucket-repo-de_datapreprocessing-hook-jenkins").inputs["environment"])["HOOK_URL"]
    parts = urlsplit(hook_url)
    assert (parts.netloc, parts.path) == ("jenkins:8080", "/git/notifyCommit")
    # The git plugin re-scans the multibranch sources whose remote matches `url`.
    assert parse_qs(parts.query)["url"] == [container_env(dev)["PIPELINE_REPO_URL"]]


def test_the_gitbucket_credential_is_the_automation_account_not_root(dev: Evaluation) -> None:
    [credential] = [
        c["usernamePassword"]
        for c in casc()["credentials"]["system"]["domainCredentials"][0]["credentials"]
        if c["usernamePassword"]["id"] == "gitbucket"
    ]
    names = {field: _VARIABLE.fullmatch(credential[field]) for field in ("username", "password")}
    assert all(names.values()), credential
    env = container_env(dev)
    username, password = (env[match.group(1)] for match in names.values() if match)
    assert username == "mlops-automation"
    assert password == "mock-secret-gitbucket-automation-password"
    assert "mock-secret-gitbucket-root-password" not in env.values()
