"""Jenkins' configuration as code agrees with what the program gives the container.

Jenkins cannot run here, so these checks tie images/jenkins/casc/jenkins.yaml to
components/jenkins.py: an unset `${VAR}` would make JCasC fail at Jenkins' start.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from components.jenkins import CASC as CASC_DIR
from components.jenkins import METRICS_PATH, PREVIEW_CASC, PREVIEW_JENKINSFILE
from tests.unit.conftest import BASE_CONFIG, Evaluation, env_of, evaluate, plain

ROOT = Path(__file__).resolve().parents[2]
CASC = ROOT / "images" / "jenkins" / "casc" / "jenkins.yaml"
PREVIEW_CASC_FILE = ROOT / "images" / "jenkins" / "casc-preview" / "preview-agent.yaml"
DOCKERFILE = ROOT / "images" / "jenkins" / "Dockerfile"
JENKINSFILE = ROOT / "gitbucket_repos" / "de_datapreprocessing" / "Jenkinsfile"
ENTRYPOINT = ROOT / "gitbucket_repos" / "de_datapreprocessing" / "de_datapreprocessing" / "entrypoint.py"
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


def test_every_variable_the_preview_casc_file_needs_is_set_by_the_program_with_previews() -> None:
    evaluation = evaluate({**BASE_CONFIG, "jenkins": {"previewRepo": "infra"}})
    env = container_env(evaluation)
    assert env["CASC_JENKINS_CONFIG"].split(",") == [CASC_DIR, PREVIEW_CASC]
    needed = {name for name, default in _VARIABLE.findall(PREVIEW_CASC_FILE.read_text()) if not default}
    assert {"PREVIEW_REPO_HOST_URL", "PREVIEW_AGENT_DIR"} <= needed <= env.keys()


def test_the_jenkinsfile_global_properties_come_from_the_casc_file() -> None:
    properties = casc()["jenkins"]["globalNodeProperties"][0]["envVars"]["env"]
    defined = {p["key"] for p in properties}
    used_by_jenkinsfile = set(re.findall(r"env\.([A-Z_]+)", JENKINSFILE.read_text()))
    jenkins_sets = {"BRANCH_NAME", "WORKSPACE", "GIT_COMMIT", "BUILD_NUMBER"}
    # What the Jenkinsfile sets itself (`env.X = ...` in a step), read by its later stages.
    jenkinsfile_sets = set(re.findall(r"env\.([A-Z_]+)\s*=(?!=)", JENKINSFILE.read_text()))
    assert jenkinsfile_sets == {"DATA_ONLY_COMMIT"}
    assert {"REGISTRY", "REGISTRY_AUTH"} <= used_by_jenkinsfile
    assert used_by_jenkinsfile - jenkins_sets - jenkinsfile_sets <= defined


def test_the_credentials_the_jenkinsfile_uses_exist() -> None:
    ids = {c["usernamePassword"]["id"] for c in casc()["credentials"]["system"]["domainCredentials"][0]["credentials"]}
    used = set(re.findall(r"credentialsId:\s*'([^']+)'", JENKINSFILE.read_text()))
    used |= set(re.findall(r"credentialsId\('([^']+)'\)", casc()["jobs"][0]["script"]))
    preview = set(re.findall(r"credentialsId:\s*'([^']+)'", (ROOT / PREVIEW_JENKINSFILE).read_text()))
    assert preview == {"gitbucket-preview"}  # never the automation account's
    assert used | preview == {"registry", "gitbucket", "gitbucket-preview"} and used | preview <= ids


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


def wildcard_excluded(excludes: str, branch: str) -> bool:
    """scm-api's WildcardSCMHeadFilterTrait (what the git plugin makes of Job DSL's `excludes`):
    space-separated patterns, `*` is `.*` (slashes included), the rest literal, whole name."""
    patterns = (
        "".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", p)) for p in excludes.split(" ")
    )
    return any(re.fullmatch(pattern, branch) for pattern in patterns)


def test_the_multibranch_jobs_do_not_discover_the_data_branches() -> None:
    script = casc()["jobs"][0]["script"]
    sources = re.findall(r"\bgit\s*\{(.*?)\n\s*\}", script, re.DOTALL)
    assert len(sources) == 3, sources  # the pipeline's, the training repo's, the previews'
    # The previews' discovers no branch at all, only refs/pull/*/head (tests/integration/test_jenkins_groovy.py).
    [previews] = [s for s in sources if "discoverOtherRefs" in s]
    assert "branchDiscovery" not in previews and "excludes(" not in previews
    sources.remove(previews)
    # The entrypoint pushes data commits of an older code commit to data/<first 12 hex>.
    assert re.search(r'target = f"data/\{code\[:12\]\}"', ENTRYPOINT.read_text())
    for source in sources:
        [excludes] = re.findall(r"excludes\('([^']*)'\)", source)
        assert "includes(" not in source  # Job DSL's default: `*`
        assert wildcard_excluded(excludes, "data/0123456789ab"), excludes
        assert not any(wildcard_excluded(excludes, b) for b in ("main", "feature/data", "database", "x/data/y"))


def test_the_controller_options_are_in_jenkins_java_opts() -> None:
    """jenkinsci/docker's jenkins.sh runs java with "$JAVA_OPTS $JENKINS_JAVA_OPTS": options in
    JENKINS_JAVA_OPTS survive a JAVA_OPTS set at run time and reach no other Java tool."""
    text = DOCKERFILE.read_text()
    env = dict(re.findall(r'\b([A-Z_]+)="([^"]*)"', text))
    options = env["JENKINS_JAVA_OPTS"].split()
    assert "-Djenkins.install.runSetupWizard=false" in options
    assert "-Dhudson.plugins.git.GitStatus.NOTIFY_COMMIT_ACCESS_CONTROL=disabled-for-polling" in options
    assert not re.search(r"(?<![A-Z_])JAVA_OPTS\s*=", text)


def test_the_image_has_the_buildx_plugin_where_the_docker_cli_looks() -> None:
    copies = re.findall(r"^COPY --from=docker-cli (\S+) (\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    plugin = "/usr/local/libexec/docker/cli-plugins/docker-buildx"  # as in docker-library/docker's cli image
    assert (plugin, plugin) in copies and ("/usr/local/bin/docker", "/usr/local/bin/docker") in copies


def test_only_the_admin_administers_and_the_monitor_account_may_only_read_metrics(dev: Evaluation) -> None:
    env = container_env(dev)
    entries = casc()["jenkins"]["authorizationStrategy"]["globalMatrix"]["entries"]
    grants = {entry["user"]["name"]: entry["user"]["permissions"] for entry in entries}
    assert grants == {"${JENKINS_ADMIN_ID}": ["Overall/Administer"], "${JENKINS_MONITOR_ID}": ["Metrics/View"]}
    assert env["JENKINS_ADMIN_ID"] != env["JENKINS_MONITOR_ID"]
    users = [user["id"] for user in casc()["jenkins"]["securityRealm"]["local"]["users"]]
    assert users == ["${JENKINS_ADMIN_ID}", "${JENKINS_MONITOR_ID}"]
    assert casc()["jenkins"]["securityRealm"]["local"]["allowsSignup"] is False
    # The plugin's endpoint answers a login with Metrics/View only; else it would be anonymous.
    metrics = casc()["unclassified"]["prometheusConfiguration"]
    assert metrics["useAuthenticatedEndpoint"] is True and f"/{metrics['path']}/" == METRICS_PATH
