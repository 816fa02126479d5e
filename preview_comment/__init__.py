"""Render `pulumi preview --json` of one or more stacks as a Markdown pull-request comment.

Pure and stdlib only (no Pulumi import): `parse_preview` reads the JSON,
`data_safety` finds the deletes and replaces of what holds data, `render`
writes the comment under a size limit. `python -m preview_comment` is the command;
with `--post github|gitbucket` it creates or updates the pull request's comment
(`preview_comment.post`, which needs `requests`).
"""

from preview_comment.model import Change, StackPreview, parse_preview
from preview_comment.render import DEFAULT_LIMIT, DataRisk, data_safety, loses_data, marker, render

__all__ = [
    "DEFAULT_LIMIT",
    "Change",
    "DataRisk",
    "StackPreview",
    "data_safety",
    "loses_data",
    "marker",
    "parse_preview",
    "render",
]
