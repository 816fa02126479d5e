"""The comment: a summary per stack, data safety, the changes by service, the raw diff folded; under a size limit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from preview_comment.model import Change, StackPreview

# Below both forges' limits: GitHub's 65,536 characters, GitBucket's 64 KB (65,536 bytes).
# The size is counted in UTF-8 bytes, which is never less than the characters.
DEFAULT_LIMIT = 60_000
MARKER = "<!-- mlops-stack-preview:{stack} -->"
# Containers whose service keeps data (the `mlops.service` label); mlflow is listed ahead of its module.
DATA_SERVICES = frozenset({"mysql", "minio", "gitbucket", "jenkins", "registry", "mlflow"})
SERVICE_LABEL = "mlops.service"
VOLUME_TYPE = "docker:index/volume:Volume"
CONTAINER_TYPE = "docker:index/container:Container"
OPS = ("create", "update", "replace", "delete")
_SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}
_VALUE_MAX = 120


def marker(stack: str) -> str:
    """The hidden line that identifies a stack's comment (for a later upsert)."""
    return MARKER.format(stack=stack)


@dataclass(frozen=True)
class DataRisk:
    """A delete or replace of something that holds data, and whether the data survives it."""

    stack: str
    name: str
    what: str  # "volume <name>" or "<service> container"
    op: str
    survives: bool
    why: str


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _label(inputs: Mapping[str, Any], label: str) -> str | None:
    for entry in inputs.get("labels") or ():
        if isinstance(entry, Mapping) and entry.get("label") == label:
            value = entry.get("value")
            return value if isinstance(value, str) else None
    return None


def _volume_name(change: Change) -> str:
    name = change.old_inputs.get("name") or change.old_outputs.get("name") or change.new_inputs.get("name")
    return name if isinstance(name, str) else change.name


def _volume_survives(change: Change) -> bool:
    # Deleted (or replaced) with the old state's option; a replacement keeps the volume only if both say so.
    if change.op == "replace" and change.retain_on_delete_new is not None:
        return change.retain_on_delete_old and change.retain_on_delete_new
    return change.retain_on_delete_old


def _mounts(change: Change) -> list[str]:
    inputs = change.old_inputs or change.new_inputs
    names = []
    for mount in inputs.get("volumes") or ():
        if isinstance(mount, Mapping) and isinstance(mount.get("volumeName"), str):
            names.append(str(mount["volumeName"]))
    return names


def data_safety(stack: StackPreview) -> list[DataRisk]:
    """Every delete or replace of a data volume or of a data service's container, with its verdict.

    A volume survives when it is retained on delete (`retainVolumes`); a container's data
    survives when it lives on named volumes that this preview does not lose; else it is lost.
    """
    risks: list[DataRisk] = []
    lost_volumes: set[str] = set()
    for change in stack.changes:
        if change.type != VOLUME_TYPE or change.op not in ("delete", "replace"):
            continue
        name = _volume_name(change)
        survives = _volume_survives(change)
        if not survives:
            lost_volumes.add(name)
        why = "retained on delete (`retainVolumes`)" if survives else "not retained: deleted with its data"
        risks.append(DataRisk(stack.stack, change.name, f"volume `{name}`", change.op, survives, why))
    for change in stack.changes:
        if change.type != CONTAINER_TYPE or change.op not in ("delete", "replace"):
            continue
        service = _label(change.old_inputs or change.new_inputs, SERVICE_LABEL)
        if service not in DATA_SERVICES:
            continue
        mounts = _mounts(change)
        lost = [m for m in mounts if m in lost_volumes]
        if not mounts:
            survives, why = False, "keeps its data inside the container (no named volume)"
        elif lost:
            survives, why = False, "its volume " + ", ".join(f"`{m}`" for m in lost) + " is deleted"
        else:
            survives, why = True, "data on volume " + ", ".join(f"`{m}`" for m in mounts) + ", which stays"
        risks.append(DataRisk(stack.stack, change.name, f"{service} container", change.op, survives, why))
    return risks


def loses_data(stacks: Iterable[StackPreview]) -> bool:
    return any(not risk.survives for stack in stacks for risk in data_safety(stack))


def _code(value: Any) -> str:
    if value is None:
        return "_(none)_"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text) > _VALUE_MAX:
        text = text[: _VALUE_MAX - 1] + "…"
    text = text.replace("`", "'").replace("\n", " ").replace("|", "\\|")
    return f"`{text}`"


def summary_line(stack: StackPreview) -> str:
    counts = ", ".join(f"{stack.counts.get(op, 0)} to {op}" for op in OPS)
    same = stack.counts.get("same", 0)
    changed = sum(stack.counts.get(op, 0) for op in OPS)
    state = "no changes" if changed == 0 else counts
    return f"- **{stack.stack}**: {state} ({same} unchanged)"


def _safety_rows(risks: Sequence[DataRisk]) -> list[str]:
    rows = []
    for risk in risks:
        verdict = "survives" if risk.survives else "**LOST**"
        rows.append(f"| {risk.stack} | {risk.what} (`{risk.name}`) | {risk.op} | {verdict} | {risk.why} |")
    return rows


def _safety_head(risks: Sequence[DataRisk], allow_data_loss: bool) -> list[str]:
    lost = sum(1 for r in risks if not r.survives)
    lines = ["### Data safety", ""]
    if not risks:
        lines.append("No volume or data-holding container is deleted or replaced.")
    elif lost == 0:
        lines.append(f"{len(risks)} delete(s) or replace(s) of data holders; all data survives.")
    else:
        override = (
            " Allowed by the override (a label on the pull request, or `--allow-data-loss`)." if allow_data_loss else ""
        )
        lines.append(f":warning: **{lost} change(s) would lose data.**{override}")
    if risks:
        lines += ["", "| Stack | What | Change | Data | Why |", "|---|---|---|---|---|"]
    return lines


def _service_block(stack: str, component: str, changes: Sequence[Change]) -> str:
    lines = [f"#### {stack} / {component}", ""]
    for change in changes:
        lines.append(f"- **{change.op}** `{change.name}` ({change.type})")
        for prop in change.properties:
            arrow = f"{_code(prop.old)} → {_code(prop.new)}"
            if prop.kind.startswith("add"):
                arrow = f"→ {_code(prop.new)}"
            elif prop.kind.startswith("delete"):
                arrow = f"{_code(prop.old)} → _(removed)_"
            suffix = " (forces replace)" if prop.replaces else ""
            lines.append(f"  - `{prop.path}`: {arrow}{suffix}")
        if change.replace_reasons:
            lines.append("  - replace reasons: " + ", ".join(f"`{r}`" for r in change.replace_reasons))
    return "\n".join(lines) + "\n"


def _raw(value: Any) -> str:
    if value is None:
        return "(none)"
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 400 else text[:399] + "…"


def _raw_block(stack: StackPreview) -> str:
    lines = [f"<details><summary>Raw diff: {stack.stack}</summary>", "", "```diff"]
    for change in stack.changes:
        lines.append(f"{_SYMBOL.get(change.op, '?')} {change.urn} ({change.op})")
        for prop in change.properties:
            lines.append(f"    {prop.path}: {_raw(prop.old)} => {_raw(prop.new)} [{prop.kind}]")
        if change.op == "delete" and not change.properties:
            for key, value in sorted(change.old_inputs.items()):
                lines.append(f"-   {key}: {_raw(value)}")
    lines += ["```", "", "</details>"]
    return "\n".join(line.replace("```", "'''") if not line.startswith("```") else line for line in lines) + "\n"


def _grouped(stack: StackPreview) -> list[tuple[str, list[Change]]]:
    groups: dict[str, list[Change]] = {}
    for change in stack.changes:
        groups.setdefault(change.component, []).append(change)
    return sorted(groups.items())


def render(stacks: list[StackPreview], limit: int = DEFAULT_LIMIT, *, allow_data_loss: bool = False) -> str:
    """The comment, at most `limit` UTF-8 bytes: the summaries and data safety always, then what fits."""
    head_lines = [marker(s.stack) for s in stacks]
    head_lines += ["## Pulumi preview", "", *(summary_line(s) for s in stacks), ""]
    head = "\n".join(head_lines) + "\n"
    risks = [risk for s in stacks for risk in data_safety(s)]
    safety_head = "\n".join(_safety_head(risks, allow_data_loss)) + "\n"
    rows = _safety_rows(risks)
    blocks = [_service_block(s.stack, component, changes) for s in stacks for component, changes in _grouped(s)] + [
        _raw_block(s) for s in stacks if s.changes
    ]

    def cut_note(left_out: int, what: str) -> str:
        return (
            f"\n_Cut to stay under {limit} bytes: {left_out} {what} left out;"
            " run `python -m preview_comment` locally for all._\n"
        )

    # The mandatory part: summaries and data safety; its rows are cut only if they alone exceed the limit.
    kept_rows = list(rows)
    while True:
        safety = safety_head + "".join(row + "\n" for row in kept_rows)
        if len(kept_rows) < len(rows):
            safety += cut_note(len(rows) - len(kept_rows), "data-safety row(s)")
        mandatory = head + safety
        if _size(mandatory) <= limit or not kept_rows:
            break
        kept_rows.pop()
    if _size(mandatory) > limit:
        return mandatory.encode("utf-8")[:limit].decode("utf-8", errors="ignore")

    body = mandatory
    if blocks:
        body += "\n### Changes by service\n\n"
    for index, block in enumerate(blocks):
        note = cut_note(len(blocks) - index - 1, "section(s)") if index < len(blocks) - 1 else ""
        rest_note = cut_note(len(blocks) - index, "section(s)")
        if _size(body + block + note) > limit:
            if _size(body + rest_note) <= limit:
                body += rest_note
            break
        body += block + "\n"
    if _size(body) > limit:
        all_cut = mandatory + cut_note(len(blocks), "section(s)")
        body = all_cut if _size(all_cut) <= limit else mandatory
    return body
