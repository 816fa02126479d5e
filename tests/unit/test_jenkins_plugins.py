"""Jenkins' plugins (images/jenkins/plugins.txt) are one consistent, fully pinned set.

jenkins-plugin-cli refuses a top-level pin older than what another plugin depends on, so every plugin,
transitive ones included, is pinned at the versions of one Jenkins plugin BOM line. plugin-bom.tsv records
that BOM (line, release, commit) and, for each plugin, the plugin dependencies its pom declares (minimum
version, optional or not) and where they were read. No network, no Docker: these read the repo's files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JENKINS_IMAGE = ROOT / "images" / "jenkins"
PLUGINS_TXT = JENKINS_IMAGE / "plugins.txt"
BOM_DATA = JENKINS_IMAGE / "plugin-bom.tsv"
DOCKERFILE = JENKINS_IMAGE / "Dockerfile"
CASC = JENKINS_IMAGE / "casc" / "jenkins.yaml"
JENKINS_COMPONENT = ROOT / "components" / "jenkins.py"
JENKINSFILES = sorted((ROOT / "gitbucket_repos").glob("*/Jenkinsfile"))

_PIN = re.compile(r"([a-z0-9][a-z0-9._-]*):(\S+)")
_CORE = re.compile(r"jenkins/jenkins:(\d+\.\d+\.\d+)")

# What the platform uses → the plugin that provides it: (where, keyword found there, plugin id).
USES: tuple[tuple[str, str, str], ...] = (
    ("Dockerfile", "CASC_JENKINS_CONFIG", "configuration-as-code"),
    ("jenkins.yaml", "jobs:", "job-dsl"),
    ("jenkins.yaml", "usernamePassword:", "credentials"),
    ("jenkins.yaml", "multibranchPipelineJob(", "workflow-multibranch"),
    ("jenkins.yaml", "branchSources", "branch-api"),
    ("jenkins.yaml", "git {", "git"),
    ("jenkins.yaml", "periodicFolderTrigger", "cloudbees-folder"),
    ("jenkins.yaml", "discardOldItems", "cloudbees-folder"),
    ("jenkins.yaml", "globalMatrix:", "matrix-auth"),
    ("jenkins.yaml", "prometheusConfiguration:", "prometheus"),
    ("jenkins.py", "/git/notifyCommit", "git"),
    ("Jenkinsfile", "pipeline {", "pipeline-model-definition"),
    ("Jenkinsfile", "when {", "pipeline-model-definition"),
    ("Jenkinsfile", "post {", "pipeline-model-definition"),
    ("Jenkinsfile", "agent any", "workflow-scm-step"),  # declarative checks out `scm` on the agent first
    ("Jenkinsfile", "disableConcurrentBuilds()", "workflow-job"),
    ("Jenkinsfile", "timeout(", "workflow-basic-steps"),
    ("Jenkinsfile", "sh '", "workflow-durable-task-step"),
    ("Jenkinsfile", "script {", "workflow-cps"),
    ("Jenkinsfile", "stage(", "pipeline-stage-step"),
    ("Jenkinsfile", "withCredentials(", "credentials-binding"),
    ("Jenkinsfile", "usernamePassword(", "credentials-binding"),
    ("Jenkinsfile", "BRANCH_NAME", "branch-api"),
    ("Jenkinsfile", "GIT_COMMIT", "git"),
)


def version_key(version: str) -> tuple[int, ...]:
    """The numeric leading parts of a Jenkins plugin version, split at dots and hyphens, up to the first
    part that is not a number (the `v<hash>` of JEP-229 versions): `5.10.1` → (5, 10, 1),
    `1953.v148f87d74b_1e` → (1953,), `2.6.1-123.vabc` → (2, 6, 1, 123)."""
    key: list[int] = []
    for part in re.split(r"[.-]", version):
        if not part.isdigit():
            break
        key.append(int(part))
    return tuple(key)


def at_least(version: str, minimum: str) -> bool:
    return version_key(version) >= version_key(minimum)


@dataclass(frozen=True)
class Dependency:
    plugin: str
    minimum: str
    optional: bool


@dataclass(frozen=True)
class Plugin:
    version: str
    role: str
    core: str
    dependencies: tuple[Dependency, ...]
    source: str


def pin_lines(text: str | None = None) -> list[str]:
    text = PLUGINS_TXT.read_text() if text is None else text
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in pin_lines():
        match = _PIN.fullmatch(line)
        assert match, f"not `id:version`: {line!r}"
        found[match.group(1)] = match.group(2)
    return found


def bom_metadata() -> dict[str, str]:
    return dict(re.findall(r"^# (\w+): (\S+)$", BOM_DATA.read_text(), re.MULTILINE))


def bom_rows() -> list[list[str]]:
    lines = [line for line in BOM_DATA.read_text().splitlines() if line and not line.startswith("#")]
    header, *rows = (line.split("\t") for line in lines)
    assert header == ["plugin", "version", "role", "core", "dependencies", "source", "note"]
    assert all(len(row) == len(header) for row in rows), [row for row in rows if len(row) != len(header)]
    return rows


def parse_dependencies(cell: str) -> tuple[Dependency, ...]:
    if cell == "-":
        return ()
    deps = []
    for item in cell.split(" "):
        plugin, minimum, *flag = item.split(":")
        assert flag in ([], ["optional"]), item
        deps.append(Dependency(plugin, minimum, bool(flag)))
    return tuple(deps)


def bom() -> dict[str, Plugin]:
    return {
        row[0]: Plugin(row[1], row[2], row[3], parse_dependencies(row[4]), row[5] + " " + row[6]) for row in bom_rows()
    }


def scanned_text(where: str) -> str:
    files = {"Dockerfile": [DOCKERFILE], "jenkins.yaml": [CASC], "jenkins.py": [JENKINS_COMPONENT]}
    paths = files.get(where, JENKINSFILES if where == "Jenkinsfile" else [])
    assert paths, where
    return "\n".join(path.read_text() for path in paths)


def pinned_core() -> str:
    """The core the image is built on: the Dockerfile's default and the program's image agree."""
    cores = {match.group(1) for path in (DOCKERFILE, JENKINS_COMPONENT) for match in _CORE.finditer(path.read_text())}
    assert len(cores) == 1, cores
    return cores.pop()


@pytest.mark.parametrize(
    ("version", "minimum", "expected"),
    [
        ("5.10.1", "5.9", True),
        ("5.9", "5.10.1", False),
        ("2117.vc05a_0b_e6b_f4e", "1953.v148f87d74b_1e", True),
        ("1953.v148f87d74b_1e", "2031.veb_a_fdda_b_3ffd", False),
        ("608.v67378e9d3db_1", "608.vffffffffffff", True),  # the hash is not an order
        ("2.6.1-123.vabc", "2.6.1-99.vdef", True),
        ("2.6.1", "2.6.1-1", False),
        ("1571.1580.v18e46842c125", "1546.v62a_c59c112dd", True),
        ("20260814-226.v20f9685d642c", "20251224-185.v0cc18490c62c", True),
    ],
)
def test_version_comparison(version: str, minimum: str, expected: bool) -> None:
    assert at_least(version, minimum) is expected


def test_every_pin_is_the_bom_version_of_that_plugin() -> None:
    recorded = {name: plugin.version for name, plugin in bom().items()}
    pinned = pins()
    assert pinned.keys() == recorded.keys()
    assert {name: v for name, v in pinned.items() if v != recorded[name]} == {}


def test_no_plugin_is_pinned_or_recorded_twice() -> None:
    names = [line.split(":", 1)[0] for line in pin_lines()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    rows = [row[0] for row in bom_rows()]
    assert len(rows) == len(set(rows)), sorted(n for n in rows if rows.count(n) > 1)


def test_every_dependency_is_pinned_at_or_above_its_minimum() -> None:
    pinned, data = pins(), bom()
    missing = sorted(
        f"{name} needs {dep.plugin}"
        for name in pinned
        for dep in data[name].dependencies
        if not dep.optional and dep.plugin not in pinned
    )
    too_old = sorted(
        f"{name} needs {dep.plugin} >= {dep.minimum}, pinned {pinned[dep.plugin]}"
        for name in pinned
        for dep in data[name].dependencies
        if dep.plugin in pinned and not at_least(pinned[dep.plugin], dep.minimum)
    )
    assert missing == []
    assert too_old == []


def test_docker_workflow_is_not_installed() -> None:
    assert "docker-workflow" not in pins()
    assert "docker-workflow" not in PLUGINS_TXT.read_text()


def test_every_plugin_the_platform_uses_is_pinned() -> None:
    not_found = [(where, keyword) for where, keyword, _ in USES if keyword not in scanned_text(where)]
    # A feature the files no longer use leaves the table (and, if nothing else needs it, plugins.txt).
    assert not_found == []
    assert sorted({plugin for _, _, plugin in USES} - pins().keys()) == []


def test_the_used_plugins_of_the_data_are_the_ones_the_platform_uses() -> None:
    used = {name for name, plugin in bom().items() if plugin.role == "used"}
    assert {plugin.role for plugin in bom().values()} <= {"used", "transitive"}
    assert used == {plugin for _, _, plugin in USES}


def test_the_bom_line_is_the_one_of_the_pinned_core_and_every_plugin_runs_on_it() -> None:
    meta, core = bom_metadata(), pinned_core()
    assert meta["core"] == core
    assert meta["bom_line"] == "bom-{}.{}.x".format(*core.split(".")[:2])
    too_new = {name: p.core for name, p in bom().items() if not at_least(core, p.core)}
    assert too_new == {}


def test_the_header_of_plugins_txt_names_the_bom_line_and_commit() -> None:
    meta = bom_metadata()
    assert re.fullmatch(r"[0-9a-f]{40}", meta["bom_commit"])
    header = "\n".join(line for line in PLUGINS_TXT.read_text().splitlines() if line.startswith("#"))
    assert meta["bom_line"] in header
    assert meta["bom_release"] in header
    assert f"commit {meta['bom_commit'][:12]}" in header


def test_every_plugin_says_where_its_dependencies_were_read() -> None:
    unsourced = [
        name for name, plugin in bom().items() if not re.match(r"jenkinsci/[\w.-]+@[0-9a-f]{40}:", plugin.source)
    ]
    assert unsourced == []
    approximate = {name for name, plugin in bom().items() if "approximate" in plugin.source}
    comments = BOM_DATA.read_text()
    assert all(re.search(rf"^#\s+{re.escape(name)} ", comments, re.MULTILINE) for name in approximate)
