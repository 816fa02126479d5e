"""Runs the repo's Jenkinsfile with the JENKINS STAND-IN (jenkinsfile_standin.groovy).

Jenkins cannot be obtained here; the stand-in evaluates the declarative Jenkinsfile
with Groovy 2.4 (Jenkins core's) and runs its `sh` steps on this machine against the
host's Docker engine, as a Jenkins agent with the socket would. What it does not do
(CPS, plugins, masking) is listed in the script's header.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.support.containers import unavailable

STANDIN = Path(__file__).resolve().with_name("jenkinsfile_standin.groovy")
PREVIEW_AGENT_CASC = Path(__file__).resolve().parents[2] / "images" / "jenkins" / "casc-preview" / "preview-agent.yaml"
JENKINSFILE = Path(__file__).resolve().parents[2] / "gitbucket_repos" / "de_datapreprocessing" / "Jenkinsfile"


def java_home() -> str:
    java = shutil.which("java")
    if shutil.which("groovy") is None or java is None:
        unavailable("no groovy/java on PATH; run scripts/groovy.sh")
    assert java is not None
    return str(Path(java).resolve().parents[1])


def run_jenkinsfile(
    workspace: Path,
    env: dict[str, str],
    credentials: dict[str, dict[str, str]] | None = None,
    stages: list[str] | None = None,
    timeout: float = 1800,
    jenkinsfile: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """One build of `workspace` (a checkout holding the Jenkinsfile, or `jenkinsfile` for a job
    that checks out by itself); output captured, never raised."""
    build_env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(workspace.parent / f"{workspace.name}@home"),
        "JAVA_HOME": java_home(),
        **env,
    }
    if credentials is not None:
        build_env["STANDIN_CREDENTIALS"] = json.dumps(credentials)
    if stages is not None:
        build_env["STANDIN_STAGES"] = ",".join(stages)
    return subprocess.run(
        ["groovy", str(STANDIN), str(jenkinsfile or "Jenkinsfile")],
        cwd=workspace,
        env=build_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def casc_substituted(text: str, env: dict[str, str]) -> str:
    """`${VAR}` and `${VAR:-default}` replaced from the Jenkins container's environment, as
    JCasC does; a `${VAR}` with no value and no default is an error, as in JCasC."""

    def value(match: re.Match[str]) -> str:
        if match[1] in env:
            return env[match[1]]
        if match[2] is None:
            raise KeyError(f"JCasC would find no value for ${{{match[1]}}}")
        return match[2]

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", value, text)


def preview_node_environment(controller_env: dict[str, str]) -> dict[str, str]:
    """The variables a build on the preview agent sees from its node (JCasC's nodeProperties
    envVars in images/jenkins/casc-preview), given the Jenkins container's environment."""
    casc = yaml.safe_load(casc_substituted(PREVIEW_AGENT_CASC.read_text(), controller_env))
    [node] = casc["jenkins"]["nodes"]
    [properties] = node["permanent"]["nodeProperties"]
    return {entry["key"]: entry["value"] for entry in properties["envVars"]["env"]}
