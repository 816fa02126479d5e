"""The Groovy that Jenkins would run compiles under Groovy 2.4, the Groovy of Jenkins core.

Jenkins cannot run here: this catches syntax errors in the Job DSL script of the
JCasC file and in the Jenkinsfiles, and checks the structure of the Job DSL's calls
with a recorder (not Job DSL: nothing about their meaning to Jenkins). The
Jenkinsfiles' stages are run by the stand-in (test_jenkinsfile_standin.py, the e2e
and registry tests).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.jenkins import CASC as CASC_DIR
from components.jenkins import PIPELINE_JOB, PREVIEW_AGENT, PREVIEW_CASC, PREVIEW_JENKINSFILE, PREVIEW_JOB
from tests.support.jenkins_standin import JENKINSFILE, casc_substituted, java_home

pytestmark = pytest.mark.integration

PROJECT_DIR = Path(__file__).resolve().parents[2]
CASC = PROJECT_DIR / "images" / "jenkins" / "casc" / "jenkins.yaml"
COMPILE = "new GroovyShell().parse(new File(args[0]).text, new File(args[0]).name); println 'compiled'"


def compile_groovy(source: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["groovy", "-e", COMPILE, str(source)],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "JAVA_HOME": java_home()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_job_dsl_script_compiles(tmp_path: Path) -> None:
    script = tmp_path / "job_dsl.groovy"
    script.write_text(yaml.safe_load(CASC.read_text())["jobs"][0]["script"])
    result = compile_groovy(script)
    assert result.returncode == 0 and "compiled" in result.stdout, result.stderr


# Runs the Job DSL script against a recorder (not Job DSL): every call, its arguments and
# the calls of its closure, as JSON. Enough to check the structure of what the script asks.
RECORD = r"""
import groovy.json.JsonOutput

class Recorder {
    List calls = []

    Object methodMissing(String name, Object args) {
        Map call = [name: name, args: [], body: []]
        for (Object arg : (args as Object[])) {
            if (arg instanceof Closure) {
                Recorder inner = new Recorder()
                Closure body = ((Closure) arg).rehydrate(inner, inner, inner)
                body.resolveStrategy = Closure.DELEGATE_ONLY
                body.call()
                call.body = inner.calls
            } else {
                call.args << arg
            }
        }
        calls << call
        null
    }
}

Closure dsl = (Closure) new GroovyShell().evaluate("return { ->\n" + new File(args[0]).text + "\n}")
Recorder top = new Recorder()
Closure script = dsl.rehydrate(top, top, top)
script.resolveStrategy = Closure.DELEGATE_ONLY
script.call()
println JsonOutput.toJson(top.calls)
"""


def calls_named(calls: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    found = []
    for call in calls:
        if call["name"] == name:
            found.append(call)
        found += calls_named(call["body"], name)
    return found


def job_dsl(env: dict[str, str]) -> str:
    """The JCasC file's Job DSL script as JCasC hands it over: `${VAR}` and `${VAR:-default}`
    replaced from the container's environment (what components/jenkins.py sets)."""
    script: str = yaml.safe_load(CASC.read_text())["jobs"][0]["script"]
    return casc_substituted(script, env)


def recorded_jobs(tmp_path: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    script, recorder = tmp_path / "job_dsl.groovy", tmp_path / "record.groovy"
    script.write_text(job_dsl(env))
    recorder.write_text(RECORD)
    result = subprocess.run(
        ["groovy", str(recorder), str(script)],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "JAVA_HOME": java_home()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    jobs = calls_named(json.loads(result.stdout.strip().splitlines()[-1]), "multibranchPipelineJob")
    return {job["args"][0]: job for job in jobs}


REPOS = {
    "PIPELINE_REPO_URL": "http://gitbucket:8080/git/root/de_datapreprocessing.git",
    "TRAINING_REPO_URL": "http://gitbucket:8080/git/root/ds_mlmodeling.git",
}


def test_the_multibranch_jobs_exclude_the_data_branches(tmp_path: Path) -> None:
    """Job DSL 1.92's static `git` branch source (BranchSourcesContext/GitBranchSourceContext):
    id, remote, credentialsId, includes (default `*`), excludes, ignoreOnPushNotifications."""
    jobs = recorded_jobs(tmp_path, REPOS)
    assert list(jobs) == ["de_datapreprocessing_pipeline", "ds_mlmodeling_pipeline"]
    assert list(recorded_jobs(tmp_path, {"PIPELINE_REPO_URL": REPOS["PIPELINE_REPO_URL"]})) == [PIPELINE_JOB]
    for job in jobs.values():
        [branch_sources] = calls_named(job["body"], "branchSources")
        [source] = branch_sources["body"]
        settings = {call["name"]: call["args"] for call in source["body"]}
        assert source["name"] == "git" and set(settings) <= {"id", "remote", "credentialsId", "includes", "excludes"}
        assert settings["excludes"] == ["data/*"] and "includes" not in settings, settings


def test_the_preview_job_builds_only_pull_request_refs_with_the_preview_jenkinsfile(tmp_path: Path) -> None:
    """Job DSL's dynamic branch source (the static `git` has no traits): git plugin 5.10.1's
    DiscoverOtherRefsTrait (`discoverOtherRefs`, ref and nameMapping) and no branch discovery
    trait, so only refs/pull/<n>/head are built, as PR-<n>; the branch-api factory's scriptPath."""
    url = "http://gitbucket:8080/git/root/infra.git"
    jobs = recorded_jobs(tmp_path, {**REPOS, "PREVIEW_REPO_URL": url})
    assert list(jobs) == [PIPELINE_JOB, "ds_mlmodeling_pipeline", PREVIEW_JOB]
    job = jobs[PREVIEW_JOB]["body"]
    [git] = calls_named(job, "git")
    settings = {call["name"]: call["args"] for call in git["body"]}
    assert settings["remote"] == [url] and settings["credentialsId"] == ["gitbucket-preview"]
    [traits] = calls_named(git["body"], "traits")
    assert [t["name"] for t in traits["body"]] == ["discoverOtherRefs"]  # no branchDiscovery
    refs = {call["name"]: call["args"] for call in traits["body"][0]["body"]}
    assert refs == {"ref": ["pull/*/head"], "nameMapping": ["PR-@{1}"]}
    [factory] = calls_named(job, "workflowBranchProjectFactory")
    assert factory["body"] == [{"name": "scriptPath", "args": [PREVIEW_JENKINSFILE], "body": []}]
    assert (PROJECT_DIR / PREVIEW_JENKINSFILE).is_file()


def test_the_preview_agent_is_applied_only_with_previews(tmp_path: Path) -> None:
    """The agent's node is in a JCasC folder of its own, named by the program in CASC_JENKINS_CONFIG."""
    dockerfile = (PROJECT_DIR / "images" / "jenkins" / "Dockerfile").read_text()
    assert f"COPY casc-preview/ {PREVIEW_CASC}" in dockerfile and f"CASC_JENKINS_CONFIG={CASC_DIR}" in dockerfile
    [agent] = yaml.safe_load((PROJECT_DIR / "images" / "jenkins" / "casc-preview" / "preview-agent.yaml").read_text())[
        "jenkins"
    ]["nodes"]
    node = agent["permanent"]
    assert node["name"] == PREVIEW_AGENT and node["labelString"] == "mlops-stack" and node["mode"] == "EXCLUSIVE"
    assert node["launcher"] == {"inbound": {"webSocket": True}}
    jenkinsfile = (PROJECT_DIR / PREVIEW_JENKINSFILE).read_text()
    assert "label 'mlops-stack'" in jenkinsfile


@pytest.mark.parametrize(
    "jenkinsfile",
    [JENKINSFILE, JENKINSFILE.parents[1] / "ds_mlmodeling" / "Jenkinsfile", PROJECT_DIR / PREVIEW_JENKINSFILE],
)
def test_the_jenkinsfiles_compile(jenkinsfile: Path) -> None:
    result = compile_groovy(jenkinsfile)
    assert result.returncode == 0 and "compiled" in result.stdout, result.stderr


def test_a_syntax_error_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.groovy"
    broken.write_text("multibranchPipelineJob('x') {\n  branchSources {\n")
    result = compile_groovy(broken)
    assert result.returncode != 0 and "unexpected token" in result.stderr.lower() + result.stdout.lower()
