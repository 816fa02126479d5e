"""What a `pulumi preview --json` says, as typed values, with every secret already masked.

Secrets reach this module in two shapes: Pulumi's "[secret]" placeholder, or the
secret signature object of its state format. Both become `SECRET`; so does any
value under a key (or a `NAME=value` environment entry) whose name looks like a
password, secret or token, in case a plaintext ever slips through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SECRET = "[secret]"  # noqa: S105 - the placeholder, not a password
# The key that marks a secret value in Pulumi's state format.
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # noqa: S105
# What Pulumi puts where a value is known only after the update.
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
UNKNOWN_TEXT = "(known after apply)"
_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|credential|fernet|jwt|private.?key|api.?key|(^|_)key$", re.IGNORECASE
)
_ENV_ENTRY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)=")

REPLACE_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})
CHANGE_OPS = frozenset({"create", "update", "delete", *REPLACE_OPS})


def secret_name(name: str) -> bool:
    """A key or variable name whose value is masked whatever it holds."""
    return _SECRET_NAME.search(name) is not None


def masked(value: Any, key: str = "") -> Any:
    """`value` with every secret, and every value under a secret-looking name, replaced by `SECRET`."""
    if key and secret_name(key):
        return SECRET
    if isinstance(value, Mapping):
        if SECRET_SIGNATURE in value:
            return SECRET
        return {str(k): masked(v, str(k)) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str):
        if value == UNKNOWN:
            return UNKNOWN_TEXT
        entry = _ENV_ENTRY.match(value)
        if entry and secret_name(entry.group(1)):
            return f"{entry.group(1)}={SECRET}"
    return value


_PATH_PART = re.compile(r'\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|\.?([^.\[\]]+)')


def path_parts(path: str) -> list[str | int]:
    """`ports[0].external` -> ["ports", 0, "external"]; `labels["a.b"]` keeps the dotted key."""
    parts: list[str | int] = []
    for quoted, index, plain in _PATH_PART.findall(path):
        if index:
            parts.append(int(index))
        else:
            parts.append(quoted or plain)
    return parts


_MISSING = object()


def at_path(value: Any, path: str) -> Any:
    """The (masked) value at a detailed-diff path, `None` if absent; a secret anywhere on the way masks it."""
    current: Any = value
    for part in path_parts(path):
        if current == SECRET or (isinstance(current, Mapping) and SECRET_SIGNATURE in current):
            return SECRET
        if isinstance(part, str) and secret_name(part):
            return SECRET
        if isinstance(current, Mapping) and isinstance(part, str):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and isinstance(part, int) and part < len(current):
            current = current[part]
        else:
            return None
        if current is _MISSING:
            return None
    return masked(current)


@dataclass(frozen=True)
class PropertyChange:
    path: str
    kind: str  # Pulumi's: add, update, delete, and the -replace variants
    old: Any
    new: Any

    @property
    def replaces(self) -> bool:
        return self.kind.endswith("-replace")


@dataclass(frozen=True)
class Change:
    """One resource the preview would create, update, replace or delete (secrets masked)."""

    urn: str
    op: str  # create, update, replace, delete
    type: str
    name: str
    parent: str | None
    component: str  # the service (component) it belongs to, e.g. "mysql"; "stack" when none
    old_inputs: Mapping[str, Any]
    new_inputs: Mapping[str, Any]
    old_outputs: Mapping[str, Any]
    retain_on_delete_old: bool
    retain_on_delete_new: bool | None
    diff_reasons: tuple[str, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    properties: tuple[PropertyChange, ...] = ()


@dataclass(frozen=True)
class StackPreview:
    stack: str
    counts: Mapping[str, int]  # op -> count, as in the preview's changeSummary
    changes: tuple[Change, ...] = field(default_factory=tuple)


def _component(urn: str) -> str:
    """The service a resource belongs to: the module of the outermost `mlops:<module>:<Name>` in its type chain."""
    qualified = urn.split("::")[2] if urn.count("::") >= 3 else ""
    for part in qualified.split("$"):
        pieces = part.split(":")
        if len(pieces) == 3 and pieces[0] == "mlops":
            return pieces[1]
    return "stack"


def _op(raw: str) -> str:
    return "replace" if raw in REPLACE_OPS else raw


def _raw_at(value: Any, path: str) -> Any:
    for part in path_parts(path):
        if isinstance(value, Mapping) and isinstance(part, str):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            return None
    return value


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _within(path: str, old: Any, new: Any) -> list[str]:
    """A change to an object, narrowed to the keys that differ (`environment.SEED_HASH`), so a
    reviewer sees what changed rather than two long objects; a secret stays one leaf."""
    if (
        not (isinstance(old, Mapping) and isinstance(new, Mapping))
        or SECRET_SIGNATURE in old
        or SECRET_SIGNATURE in new
    ):
        return [path]
    narrowed = [
        inner
        for key in sorted({str(k) for k in (*old, *new) if not str(k).startswith("__")})
        if old.get(key) != new.get(key)
        for inner in _within(
            f"{path}.{key}" if _PLAIN_KEY.fullmatch(key) else f'{path}["{key}"]', old.get(key), new.get(key)
        )
    ]
    return narrowed or [path]


def _properties(step: Mapping[str, Any], old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[PropertyChange, ...]:
    """The changed properties, from the raw (unmasked) inputs: values are masked as they are taken."""
    detailed = step.get("detailedDiff")
    if isinstance(detailed, Mapping) and detailed:
        items = [
            (str(p), str(d.get("kind", "update")) if isinstance(d, Mapping) else "update") for p, d in detailed.items()
        ]
    else:
        items = [(str(reason), "update") for reason in step.get("diffReasons") or ()]
    narrowed = [
        (inner, kind) for path, kind in items for inner in _within(path, _raw_at(old, path), _raw_at(new, path))
    ]
    return tuple(
        PropertyChange(path=path, kind=kind, old=at_path(old, path), new=at_path(new, path))
        for path, kind in sorted(narrowed, key=lambda item: _natural(item[0]))
    )


def _natural(path: str) -> list[tuple[int, str]]:
    return [(0, f"{p:09d}") if isinstance(p, int) else (1, p) for p in path_parts(path)]


def _change(step: Mapping[str, Any]) -> Change:
    old_state: Mapping[str, Any] = step.get("oldState") or {}
    new_state: Mapping[str, Any] = step.get("newState") or {}
    urn = str(step.get("urn", ""))
    old_inputs = old_state.get("inputs") or {}
    new_inputs = new_state.get("inputs") or {}
    new_retain = new_state.get("retainOnDelete") if new_state else None
    return Change(
        urn=urn,
        op=_op(str(step.get("op", ""))),
        type=str(new_state.get("type") or old_state.get("type") or urn.split("::")[2].split("$")[-1]),
        name=urn.split("::")[-1],
        parent=new_state.get("parent") or old_state.get("parent"),
        component=_component(urn),
        old_inputs=masked(old_inputs),
        new_inputs=masked(new_inputs),
        old_outputs=masked(old_state.get("outputs") or {}),
        retain_on_delete_old=bool(old_state.get("retainOnDelete", False)),
        retain_on_delete_new=None if not new_state else bool(new_retain),
        diff_reasons=tuple(str(r) for r in step.get("diffReasons") or ()),
        replace_reasons=tuple(str(r) for r in step.get("replaceReasons") or ()),
        properties=_properties(step, old_inputs, new_inputs),
    )


def parse_preview(stack: str, document: Mapping[str, Any]) -> StackPreview:
    """A stack's preview from the parsed `pulumi preview --json` document."""
    changes: dict[str, Change] = {}
    counted: dict[str, int] = {}
    for step in document.get("steps") or ():
        if not isinstance(step, Mapping) or step.get("op") not in CHANGE_OPS:
            continue
        change = _change(step)
        # A replacement may come as one "replace" step or as its create and delete halves.
        if change.urn not in changes or change.op == "replace":
            changes[change.urn] = change
    for change in changes.values():
        counted[change.op] = counted.get(change.op, 0) + 1
    summary = document.get("changeSummary")
    counts: dict[str, int] = {}
    if isinstance(summary, Mapping):
        for op, n in summary.items():
            # A replacement's halves are counted in "replace" already.
            if isinstance(n, int) and op not in ("create-replacement", "delete-replaced"):
                counts[str(op)] = counts.get(str(op), 0) + n
    else:
        counts = counted
    return StackPreview(stack=stack, counts=counts, changes=tuple(changes.values()))
