"""The Groovy that Jenkins would run compiles under Groovy 2.4, the Groovy of Jenkins core.

Jenkins cannot run here: this catches syntax errors in the Job DSL script of the
JCasC file and in the Jenkinsfile, nothing about their meaning (the Jenkinsfile's
stages are run by the stand-in in the e2e and registry tests).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.jenkins_standin import JENKINSFILE, java_home

pytestmark = pytest.mark.integration

CASC = Path(__file__).resolve().parents[2] / "images" / "jenkins" / "casc" / "jenkins.yaml"
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


def test_the_jenkinsfile_compiles() -> None:
    result = compile_groovy(JENKINSFILE)
    assert result.returncode == 0 and "compiled" in result.stdout, result.stderr


def test_a_syntax_error_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.groovy"
    broken.write_text("multibranchPipelineJob('x') {\n  branchSources {\n")
    result = compile_groovy(broken)
    assert result.returncode != 0 and "unexpected token" in result.stderr.lower() + result.stdout.lower()
