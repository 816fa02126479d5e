"""scripts/jenkins-agent.sh, which starts the preview agent on the Docker host, against a FAKE
Jenkins (its two endpoints the script calls: the agent's jar and the node's launch file) and a
FAKE `pulumi` that prints a stack's outputs: Jenkins cannot run here. The fake agent jar prints
the arguments it was started with and the secret file it was handed."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from components.jenkins import PREVIEW_AGENT
from offline.fakes.fake_gitbucket import served
from tests.support.containers import unavailable

pytestmark = pytest.mark.integration

PROJECT_DIR = Path(__file__).resolve().parents[2]
SECRET = "5f" * 32  # a node secret: 64 hex digits
PASSWORD = 'Adm1n-"Never\\Printed'  # curl config escapes: \\ and " must arrive as such
AGENT_MAIN = """
import java.nio.file.*;
public class Main {
  public static void main(String[] args) throws Exception {
    System.out.println("ARGS " + String.join(" ", args));
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("-secret") && args[i + 1].startsWith("@")) {
        System.out.println("SECRET " + new String(Files.readAllBytes(Paths.get(args[i + 1].substring(1)))));
      }
    }
  }
}
"""


def agent_jar(where: Path) -> bytes:
    if shutil.which("javac") is None or shutil.which("jar") is None:
        unavailable("no javac/jar on PATH: run scripts/groovy.sh (installs the JDK)")
    (where / "Main.java").write_text(AGENT_MAIN)
    (where / "manifest.txt").write_text("Main-Class: Main\n")
    subprocess.run(["javac", "--release", "17", "Main.java"], cwd=where, check=True, timeout=120)
    subprocess.run(["jar", "cfm", "agent.jar", "manifest.txt", "Main.class"], cwd=where, check=True, timeout=60)
    return (where / "agent.jar").read_bytes()


@dataclass
class FakeJenkins:
    """The two endpoints the script calls, as a WSGI app: the agent's jar, and the node's launch
    file (for the admin's Basic login only)."""

    jar: bytes
    requests: list[str] = field(default_factory=list)
    base_url: str = ""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        self.requests.append(path)
        expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        status, content_type, body = "200 OK", "application/java-archive", self.jar
        if path == f"/computer/{PREVIEW_AGENT}/jenkins-agent.jnlp":
            status, content_type = "200 OK", "application/x-java-jnlp-file"
            body = (
                '<jnlp codebase="x"><application-desc main-class="hudson.remoting.jnlp.Main">'
                f"<argument>{SECRET}</argument><argument>{PREVIEW_AGENT}</argument>"
                "<argument>-url</argument><argument>http://x/</argument></application-desc></jnlp>"
            ).encode()
            if environ.get("HTTP_AUTHORIZATION") != expected:
                status, content_type, body = "403 Forbidden", "text/plain", b"access denied"
        elif path != "/jnlpJars/agent.jar":
            status, content_type, body = "404 Not Found", "text/plain", b"not found"
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]


@pytest.fixture
def jenkins(tmp_path: Path) -> Iterator[FakeJenkins]:
    (tmp_path / "jar").mkdir()
    fake = FakeJenkins(agent_jar(tmp_path / "jar"))
    with served(fake) as fake.base_url:
        yield fake


def run_script(tmp_path: Path, outputs: dict[str, str], stack: str = "dev") -> subprocess.CompletedProcess[str]:
    """The script with a FAKE `pulumi` first on PATH (and an empty cache: no real toolchain)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "pulumi"
    fake.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"outputs = json.loads({json.dumps(json.dumps(outputs))})\n"
        "name = [a for a in sys.argv[1:] if not a.startswith('-') and a not in ('stack', 'output')][-1]\n"
        "if name not in outputs: sys.exit(f'error: current stack does not have output property {name!r}')\n"
        "print(outputs[name])\n"
    )
    fake.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "MLOPS_CACHE_DIR": str(tmp_path / "cache"),
        "PULUMI_CONFIG_PASSPHRASE": "unused",
    }
    return subprocess.run(
        ["bash", str(PROJECT_DIR / "scripts" / "jenkins-agent.sh"), stack],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_agent_gets_its_secret_from_a_private_file_never_the_command_line(
    tmp_path: Path, jenkins: FakeJenkins
) -> None:
    root = tmp_path / "agent-root"
    outputs = {
        "previewRepoCloneUrl": "http://127.0.0.1:8080/git/root/infra.git",
        "previewAgentDir": str(root),
        "jenkinsUrl": jenkins.base_url,
        "jenkinsAdminUser": "admin",
        "jenkinsAdminPassword": PASSWORD,
    }
    done = run_script(tmp_path, outputs)
    assert done.returncode == 0, done.stderr
    cache = tmp_path / "cache" / "jenkins-agent" / "dev"
    args = f"-url {jenkins.base_url}/ -name {PREVIEW_AGENT} -secret @{cache}/secret -webSocket -workDir {cache}/work"
    assert f"ARGS {args}" in done.stdout
    assert f"SECRET {SECRET}" in done.stdout  # handed over in the file
    assert stat.S_IMODE((cache / "secret").stat().st_mode) == 0o600
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert PASSWORD not in done.stdout + done.stderr
    assert jenkins.requests == ["/jnlpJars/agent.jar", f"/computer/{PREVIEW_AGENT}/jenkins-agent.jnlp"]


def test_a_stack_without_previews_and_a_refused_login_start_nothing(tmp_path: Path, jenkins: FakeJenkins) -> None:
    off = run_script(tmp_path, {"jenkinsUrl": jenkins.base_url})
    assert off.returncode == 1 and "set jenkins.previewRepo and run pulumi up" in off.stderr
    assert jenkins.requests == []
    outputs = {
        "previewRepoCloneUrl": "http://127.0.0.1:8080/git/root/infra.git",
        "previewAgentDir": str(tmp_path / "agent-root"),
        "jenkinsUrl": jenkins.base_url,
        "jenkinsAdminUser": "admin",
        "jenkinsAdminPassword": "wrong-password",
    }
    refused = run_script(tmp_path, outputs)
    assert refused.returncode != 0 and "ARGS" not in refused.stdout
    assert "403" in refused.stderr and "wrong-password" not in refused.stdout + refused.stderr
    bad = run_script(tmp_path, outputs, stack="Not A Stack")
    assert bad.returncode == 1 and "usage:" in bad.stderr
