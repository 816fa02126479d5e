"""The preview comment (preview_comment/): rendering of real previews, data safety, secrets, the size cap.

The fixtures in fixtures/preview/ are real `pulumi preview --json --stack e2e --config-file <variant>`
runs against a stack that was up (only `sourcePosition`/`stackTrace`, which hold machine paths,
removed): no_change; airflow_port (airflow.port 18085 -> 18095); registry_image (registry.image
mlops-local/registry:2 -> :2.8); mysql_image (mysql.image 9.7 -> 9.7.1); unretained_disable
(retainVolumes false, registry and phpMyAdmin disabled); seeded_repo (a line added to a tracked
file of dags/, the seeded DAG repo's content: plain `pulumi preview --json --stack e2e`).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from preview_comment import StackPreview, data_safety, loses_data, marker, parse_preview, render
from preview_comment.__main__ import main, run_preview
from preview_comment.model import SECRET_SIGNATURE

FIXTURES = Path(__file__).parent / "fixtures" / "preview"
PROJECT_DIR = Path(__file__).resolve().parents[2]
PLAINTEXTS = ("Pl41nT3xtSecretInSig", "Pl41nT3xtUnderPasswordKey", "Pl41nT3xtInEnvVar", "Pl41nT3xtCiphered")


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def preview(name: str, stack: str = "e2e") -> StackPreview:
    return parse_preview(stack, document(name))


def unretained(doc: dict[str, Any]) -> dict[str, Any]:
    """The real disable preview as it would be had the registry volume not been retained when it was made."""
    changed = copy.deepcopy(doc)
    volumes = [s for s in changed["steps"] if s["urn"].endswith("Volume::registry-data")]
    assert len(volumes) == 1 and volumes[0]["oldState"]["retainOnDelete"] is True
    volumes[0]["oldState"]["retainOnDelete"] = False
    return changed


def synthetic_secrets() -> dict[str, Any]:
    """A preview whose old and new states carry plaintext secrets in every shape a secret may take."""
    container = "docker:index/container:Container"
    urn = f"urn:pulumi:e2e::mlops-stack::mlops:mysql:MySQL${container}::mysql-server"
    old_inputs = {
        "envs": {SECRET_SIGNATURE: "1b47061264138c4ac30d75fd1eb44270", "plaintext": json.dumps([PLAINTEXTS[0]])},
        "mysqlRootPassword": PLAINTEXTS[1],
        "command": [f"MYSQL_ROOT_PASSWORD={PLAINTEXTS[2]}", "mysqld"],
        "labels": [{"label": "mlops.service", "value": "mysql"}],
        "image": "sha256:old",
        "volumes": [{"containerPath": "/var/lib/mysql", "volumeName": "v"}],
    }
    new_inputs = {
        "envs": {SECRET_SIGNATURE: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": PLAINTEXTS[3]},
        "mysqlRootPassword": PLAINTEXTS[1] + "2",
        "command": [f"MYSQL_ROOT_PASSWORD={PLAINTEXTS[2]}2", "mysqld"],
        "labels": [{"label": "mlops.service", "value": "mysql"}],
        "image": "sha256:new",
        "volumes": [{"containerPath": "/var/lib/mysql", "volumeName": "v"}],
    }
    step = {
        "op": "replace",
        "urn": urn,
        "diffReasons": ["envs", "mysqlRootPassword", "command", "image"],
        "replaceReasons": ["envs", "image"],
        "detailedDiff": {
            "envs": {"kind": "update-replace", "inputDiff": True},
            "mysqlRootPassword": {"kind": "update", "inputDiff": True},
            "command[0]": {"kind": "update", "inputDiff": True},
            "image": {"kind": "update-replace", "inputDiff": True},
        },
        "oldState": {"urn": urn, "type": container, "inputs": old_inputs, "outputs": dict(old_inputs)},
        "newState": {"urn": urn, "type": container, "inputs": new_inputs},
    }
    return {"steps": [step], "changeSummary": {"replace": 1, "same": 3}}


def assert_no_plaintext(text: str) -> None:
    for secret in PLAINTEXTS:
        assert secret not in text


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("no_change", {"same": 46}),
        ("airflow_port", {"replace": 1, "same": 45}),
        ("registry_image", {"replace": 2, "same": 44}),
        ("mysql_image", {"replace": 2, "same": 44}),
        ("unretained_disable", {"replace": 5, "delete": 7, "same": 34}),
        ("seeded_repo", {"update": 1, "same": 57}),
    ],
)
def test_each_fixture_renders_its_summary_and_marker(name: str, counts: dict[str, int]) -> None:
    stack = preview(name)
    assert dict(stack.counts) == counts
    comment = render([stack], 60_000)
    assert comment.splitlines()[0] == "<!-- mlops-stack-preview:e2e -->"
    summary = next(line for line in comment.splitlines() if line.startswith("- **e2e**"))
    if name == "no_change":
        assert summary == "- **e2e**: no changes (46 unchanged)"
        assert "### Changes by service" not in comment
    else:
        for op in ("create", "update", "replace", "delete"):
            assert f"{counts.get(op, 0)} to {op}" in summary
    assert "### Data safety" in comment


def test_a_seeded_repos_new_content_shows_the_seed_step_running_again() -> None:
    comment = render([preview("seeded_repo")], 60_000)
    assert "#### e2e / gitbucket" in comment
    assert "- **update** `gitbucket-repo-myairflow_dags-ensure` (command:local:Command)" in comment
    # Narrowed to the key that changed, not two whole environments; the password stays masked.
    [line] = [line for line in comment.splitlines() if line.startswith("  - `environment")]
    assert line.startswith("  - `environment.SEED_HASH`: `b6287524") and "` → `2e60a046" in line, line
    assert "No volume or data-holding container is deleted or replaced." in comment


def test_port_change_shows_old_and_new_and_the_replace_reason() -> None:
    comment = render([preview("airflow_port")], 60_000)
    assert "#### e2e / airflow" in comment
    assert "- `ports[0].external`: `18085` → `18095` (forces replace)" in comment
    assert "  - replace reasons: `ports`" in comment
    assert "<details><summary>Raw diff: e2e</summary>" in comment
    assert "ports[0].external: 18085 => 18095 [update-replace]" in comment


def test_changes_are_grouped_by_their_component() -> None:
    stack = preview("unretained_disable")
    groups = {c.name: c.component for c in stack.changes}
    assert groups["registry-data"] == "registry"
    assert groups["registry"] == "registry"  # the component itself
    assert groups["phpmyadmin-server"] == "phpmyadmin"
    assert groups["airflow-scheduler"] == "airflow"
    comment = render([stack], 60_000)
    sections = re.findall(r"^#### e2e / (\S+)$", comment, flags=re.MULTILINE)
    assert sections == ["airflow", "phpmyadmin", "registry"]
    registry = comment.split("#### e2e / registry")[1].split("<details>")[0]
    assert "**delete** `registry-data` (docker:index/volume:Volume)" in registry
    assert "phpmyadmin" not in registry


def test_image_change_of_a_stateless_image_and_the_unknown_new_id() -> None:
    comment = render([preview("registry_image")], 60_000)
    assert "`mlops-local/registry:2` → `mlops-local/registry:2.8` (forces replace)" in comment
    assert "→ `(known after apply)`" in comment
    assert "04da6b54-80e4-46f7-96ec-b56ff0331ba9" not in comment


def test_mysql_replaced_keeps_its_data_on_its_retained_volume() -> None:
    stack = preview("mysql_image")
    risks = data_safety(stack)
    assert [(r.what, r.op, r.survives) for r in risks] == [("mysql container", "replace", True)]
    assert "mlops-stack-e2e-mysql-data" in risks[0].why
    assert not loses_data([stack])
    assert "| e2e | mysql container (`mysql-server`) | replace | survives |" in render([stack], 60_000)


def test_a_retained_volume_deleted_survives() -> None:
    stack = preview("unretained_disable")
    verdicts = {r.name: r.survives for r in data_safety(stack)}
    # phpMyAdmin and Airflow hold no data of their own: not listed.
    assert verdicts == {"registry-data": True, "registry-server": True}
    assert not loses_data([stack])


def test_an_unretained_volume_deleted_is_lost_with_its_containers_data() -> None:
    stack = parse_preview("e2e", unretained(document("unretained_disable")))
    verdicts = {r.name: r.survives for r in data_safety(stack)}
    assert verdicts == {"registry-data": False, "registry-server": False}
    assert loses_data([stack])
    comment = render([stack], 60_000)
    assert ":warning: **2 change(s) would lose data.**" in comment
    assert "| e2e | volume `mlops-stack-e2e-registry-data` (`registry-data`) | delete | **LOST** |" in comment


def test_a_data_container_without_a_named_volume_is_lost() -> None:
    doc = synthetic_secrets()
    del doc["steps"][0]["oldState"]["inputs"]["volumes"]
    del doc["steps"][0]["newState"]["inputs"]["volumes"]
    assert [r.survives for r in data_safety(parse_preview("s", doc))] == [False]


def test_exit_code_2_on_data_loss_unless_overridden(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLOPS_ALLOW_DATA_LOSS", raising=False)
    lossy = tmp_path / "lossy.json"
    lossy.write_text(json.dumps(unretained(document("unretained_disable"))), encoding="utf-8")
    assert main(["--json-file", f"e2e={lossy}"]) == 2
    assert "would lose data" in capsys.readouterr().err
    out = tmp_path / "comment.md"
    assert main(["--json-file", f"e2e={lossy}", "--allow-data-loss", "--out", str(out)]) == 0
    assert "Allowed by the override (a label on the pull request, or `--allow-data-loss`)" in out.read_text(
        encoding="utf-8"
    )
    monkeypatch.setenv("MLOPS_ALLOW_DATA_LOSS", "1")
    assert main(["--json-file", f"e2e={lossy}"]) == 0
    monkeypatch.delenv("MLOPS_ALLOW_DATA_LOSS")
    assert main(["--json-file", f"e2e={FIXTURES / 'unretained_disable.json'}"]) == 0


def test_several_stacks_one_marker_and_summary_each(capsys: pytest.CaptureFixture[str]) -> None:
    files = ["--json-file", f"dev={FIXTURES / 'airflow_port.json'}", "--json-file", str(FIXTURES / "no_change.json")]
    code = main(files)
    assert code == 0
    comment = capsys.readouterr().out
    assert comment.splitlines()[:2] == [marker("dev"), marker("no_change")]
    assert "- **dev**: 0 to create, 0 to update, 1 to replace, 0 to delete (45 unchanged)" in comment
    assert "- **no_change**: no changes (46 unchanged)" in comment


def test_fixture_secrets_render_as_secret_only() -> None:
    for path in sorted(FIXTURES.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        comment = render([parse_preview("e2e", doc)], 60_000)
        # Every value that sits in a secret object of the fixture, or under a secret-named key.
        found: list[str] = []

        def walk(value: Any, key: str = "", found: list[str] = found) -> None:
            if isinstance(value, dict):
                if SECRET_SIGNATURE in value:
                    found.extend(str(v) for k, v in value.items() if k != SECRET_SIGNATURE)
                for k, v in value.items():
                    if re.search(r"password|secret|token", k, re.IGNORECASE) and isinstance(v, str):
                        found.append(v)
                    walk(v, k)
            elif isinstance(value, list):
                for v in value:
                    walk(v)

        walk(doc)
        for value in found:
            assert value == "[secret]" or value not in comment, path.name
    airflow = render([preview("unretained_disable")], 60_000)
    assert "`envs[15]`: `[secret]` → _(removed)_ (forces replace)" in airflow


def test_plaintext_secrets_never_rendered_in_any_shape() -> None:
    stack = parse_preview("e2e", synthetic_secrets())
    comment = render([stack], 60_000)
    assert_no_plaintext(comment)
    assert "`envs`: `[secret]` → `[secret]` (forces replace)" in comment
    assert "`mysqlRootPassword`: `[secret]` → `[secret]`" in comment
    assert "`command[0]`: `MYSQL_ROOT_PASSWORD=[secret]` → `MYSQL_ROOT_PASSWORD=[secret]`" in comment
    assert "`image`: `sha256:old` → `sha256:new`" in comment
    # Nothing kept in the parsed model either (the raw diff and a delete's inputs come from it).
    assert_no_plaintext(repr(stack))
    deleted = synthetic_secrets()
    deleted["steps"][0].update(op="delete", newState=None, detailedDiff=None, diffReasons=[])
    assert_no_plaintext(render([parse_preview("e2e", deleted)], 60_000))


def test_the_command_output_holds_no_plaintext_secret(tmp_path: Path) -> None:
    source = tmp_path / "secrets.json"
    source.write_text(json.dumps(synthetic_secrets()), encoding="utf-8")
    out = tmp_path / "comment.md"
    done = subprocess.run(
        [sys.executable, "-m", "preview_comment", "--json-file", f"e2e={source}", "--out", str(out), "--timing"],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "timing: preview" in done.stderr
    for text in (done.stdout, done.stderr, out.read_text(encoding="utf-8")):
        assert_no_plaintext(text)
    assert done.stdout == out.read_text(encoding="utf-8")


def oversized() -> StackPreview:
    """The lossy disable preview plus 400 made-up port replaces in 40 made-up services: beyond any forge's limit."""
    doc = unretained(document("unretained_disable"))
    template = next(s for s in document("airflow_port")["steps"] if s["op"] == "replace")
    for i in range(400):
        step = copy.deepcopy(template)
        step["urn"] = (
            step["urn"]
            .replace("airflow-api-server", f"worker-{i:03d}")
            .replace("mlops:airflow:Airflow", f"mlops:svc{i // 10:02d}:Svc")
        )
        doc["steps"].append(step)
    return parse_preview("e2e", doc)


@pytest.mark.parametrize("limit", [65_536, 60_000, 8_000, 2_000])
def test_size_cap_keeps_summary_and_data_safety_and_says_so(limit: int) -> None:
    stack = oversized()
    full = render([stack], 10_000_000)
    assert len(full.encode("utf-8")) > 65_536
    comment = render([stack], limit)
    assert len(comment.encode("utf-8")) <= limit
    assert comment.startswith(marker("e2e") + "\n")
    assert "- **e2e**: 0 to create, 0 to update, 5 to replace, 7 to delete (34 unchanged)" in comment
    assert ":warning: **2 change(s) would lose data.**" in comment
    assert "| e2e | volume `mlops-stack-e2e-registry-data` (`registry-data`) | delete | **LOST** |" in comment
    assert "| e2e | registry container (`registry-server`) | delete | **LOST** |" in comment
    cut = re.search(rf"_Cut to stay under {limit} bytes: (\d+) section\(s\) left out", comment)
    assert cut is not None
    kept = re.findall(r"^#### e2e / (\S+)$", comment, flags=re.MULTILINE)
    # What fits is kept, in order, and the note counts the rest (40 made-up services, 3 real ones, the raw diff).
    assert len(kept) + int(cut.group(1)) == 44
    if limit >= 60_000:
        assert kept[:2] == ["airflow", "phpmyadmin"] and len(kept) > 10


def test_no_cut_note_when_it_fits() -> None:
    comment = render([preview("unretained_disable")], 60_000)
    assert "_Cut" not in comment
    assert comment.rstrip().endswith("</details>")


def test_a_changed_secret_inside_an_object_shows_as_changed_and_masked() -> None:
    def state(password: str, url: str) -> dict[str, Any]:
        return {
            "type": "command:local:Command",
            "inputs": {"environment": {"GITBUCKET_PASSWORD": password, "URL": url}},
        }

    step = {
        "op": "update",
        "urn": "urn:pulumi:e2e::mlops-stack::mlops:gitbucket:GitBucket$command:local:Command::seed",
        "oldState": state("old-plaintext-pw", "http://a"),
        "newState": state("new-plaintext-pw", "http://b"),
        "detailedDiff": {"environment": {"kind": "update"}},
    }
    [change] = parse_preview("e2e", {"steps": [step]}).changes
    shown = {p.path: (p.old, p.new) for p in change.properties}
    assert shown == {
        "environment.GITBUCKET_PASSWORD": ("[secret]", "[secret]"),
        "environment.URL": ("http://a", "http://b"),
    }


def test_the_previewed_program_never_gets_the_forges_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull request's program runs in `pulumi preview`: the token and password that post the
    comment stay with the poster. A stand-in `pulumi` prints the environment it was given."""
    fake = tmp_path / "pulumi"
    fake.write_text(
        "#!/usr/bin/env python3\nimport json, os\nprint(json.dumps({'steps': [], 'env': sorted(os.environ)}))\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_x")
    monkeypatch.setenv("GITBUCKET_PASSWORD", "pw")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "kept")
    seen = run_preview("dev", timeout=30)["env"]
    assert "GITHUB_TOKEN" not in seen and "GITBUCKET_PASSWORD" not in seen
    assert "PULUMI_CONFIG_PASSPHRASE" in seen
