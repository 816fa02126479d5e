"""`python -m preview_comment --stack NAME [...]`: preview stacks and print the Markdown comment.

With `--post github|gitbucket --repo OWNER/NAME --pr N` it also creates or updates the pull
request's comment for these stacks (preview_comment/post.py): GitHub with GITHUB_TOKEN (and
GITHUB_API_URL), GitBucket with GITBUCKET_URL, GITBUCKET_USER and GITBUCKET_PASSWORD.

Exit codes: 0 the comment is written (and posted); 2 a change would lose data and no override
was given (`--allow-data-loss`, MLOPS_ALLOW_DATA_LOSS=1, or with `--override-label L` the pull
request carries label L), the comment posted all the same; 1 a preview failed, a file is
unreadable or posting failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops_clients.contracts import GitBucketEnv
from preview_comment.model import StackPreview, parse_preview
from preview_comment.post import Forge, PostError, forge_from_env, max_limit, upsert
from preview_comment.render import DEFAULT_LIMIT, loses_data, render

OVERRIDE_ENV = "MLOPS_ALLOW_DATA_LOSS"


class PreviewFailed(Exception):
    pass


# The forges' credentials: for posting only, so the previewed program (a pull request's code)
# never gets them in its environment.
FORGE_CREDENTIALS = frozenset({"GITHUB_TOKEN", str(GitBucketEnv.PASSWORD)})


def run_preview(stack: str, timeout: float, cwd: Path | None = None) -> dict[str, Any]:
    """`pulumi preview --json --stack <stack>`, parsed; nothing of its output is echoed (it could name a secret)."""
    try:
        done = subprocess.run(
            ["pulumi", "preview", "--json", "--non-interactive", "--stack", stack],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env={k: v for k, v in os.environ.items() if k not in FORGE_CREDENTIALS},
            check=False,
        )
    except subprocess.TimeoutExpired as err:
        raise PreviewFailed(f"pulumi preview --stack {stack} took more than {timeout:g} s") from err
    except OSError as err:
        raise PreviewFailed(f"pulumi preview --stack {stack} could not start: {err.strerror}") from err
    if done.returncode != 0:
        raise PreviewFailed(
            f"pulumi preview --stack {stack} failed (exit {done.returncode}); run it by hand to see why"
        )
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError as err:
        raise PreviewFailed(f"pulumi preview --stack {stack} printed no JSON") from err
    if not isinstance(document, dict):
        raise PreviewFailed(f"pulumi preview --stack {stack} printed no JSON object")
    return document


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m preview_comment", description=__doc__)
    parser.add_argument("--stack", action="append", default=[], help="stack to preview (repeatable)")
    parser.add_argument(
        "--json-file",
        action="append",
        default=[],
        metavar="F",
        help="a saved `pulumi preview --json` instead of running it (repeatable; STACK=FILE names its stack)",
    )
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"comment size cap in bytes ({DEFAULT_LIMIT})")
    parser.add_argument(
        "--allow-data-loss", action="store_true", help=f"exit 0 even if data is lost (or {OVERRIDE_ENV}=1)"
    )
    parser.add_argument("--out", type=Path, help="also write the comment to this file")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per preview (900)")
    parser.add_argument("--timing", action="store_true", help="print preview and render seconds to stderr")
    posting = parser.add_argument_group("posting on a pull request")
    posting.add_argument("--post", choices=("github", "gitbucket"), help="create or update the pull request's comment")
    posting.add_argument("--repo", metavar="OWNER/NAME", help="the repository of the pull request")
    posting.add_argument("--pr", type=int, metavar="N", help="the pull request's number")
    posting.add_argument(
        "--override-label",
        metavar="LABEL",
        help="a change that loses data is accepted when the pull request carries this label (asked only then)",
    )
    posting.add_argument(
        "--as-login",
        metavar="LOGIN",
        help="the account the token posts as, when the forge will not say (a GitHub App token: its bot login;"
        " an Actions token is taken as github-actions[bot])",
    )
    return parser


def _from_file(spec: str) -> StackPreview:
    stack, sep, name = spec.partition("=")
    path = Path(name if sep else spec)
    document = json.loads(path.read_text(encoding="utf-8"))
    return parse_preview(stack if sep else path.stem, document)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.stack and not args.json_file:
        _parser().error("give --stack or --json-file")
    if args.limit < 1000:
        _parser().error("--limit must be at least 1000")
    forge: Forge | None = None
    if args.post is not None:
        if not args.repo or args.pr is None or args.pr < 1:
            _parser().error("--post needs --repo OWNER/NAME and --pr N (a positive number)")
        if args.limit > max_limit(args.post):
            _parser().error(f"--limit must be at most {max_limit(args.post)} to post on {args.post}")
        try:  # before the previews: a missing credential fails in a second, not after them
            forge = forge_from_env(args.post, args.repo, os.environ)
        except (PostError, ValueError) as err:
            print(f"preview_comment: cannot post: {err}", file=sys.stderr)
            return 1
    allow = args.allow_data_loss or os.environ.get(OVERRIDE_ENV, "") in ("1", "true", "yes")
    started = time.perf_counter()
    try:
        stacks = [parse_preview(stack, run_preview(stack, args.timeout)) for stack in args.stack]
        stacks += [_from_file(spec) for spec in args.json_file]
    except PreviewFailed as err:
        print(f"preview_comment: {err}", file=sys.stderr)
        return 1
    except (OSError, json.JSONDecodeError) as err:
        print(f"preview_comment: cannot read a preview file: {err}", file=sys.stderr)
        return 1
    previewed = time.perf_counter()
    if forge is not None and args.override_label and not allow and loses_data(stacks):
        try:
            allow = args.override_label in forge.labels(args.pr)
        except (PostError, ValueError) as err:
            print(f"preview_comment: cannot read the pull request's labels: {err}", file=sys.stderr)
            return 1
    comment = render(stacks, args.limit, allow_data_loss=allow)
    rendered = time.perf_counter()
    sys.stdout.write(comment)
    if args.out is not None:
        args.out.write_text(comment, encoding="utf-8")
    if args.timing:
        print(f"timing: preview {previewed - started:.2f} s, render {rendered - previewed:.3f} s", file=sys.stderr)
    posted = forge is None or _post(forge, args.pr, comment, args.as_login)
    lost = loses_data(stacks) and not allow
    if lost:
        print(
            "preview_comment: a change would lose data (see Data safety);"
            f" --allow-data-loss or {OVERRIDE_ENV}=1"
            + (f", or the label '{args.override_label}' on the pull request," if args.override_label else "")
            + " to accept",
            file=sys.stderr,
        )
    return 1 if not posted else 2 if lost else 0


def _post(forge: Forge, pr: int, comment: str, as_login: str | None) -> bool:
    """Create or update the comment; what was done (or why not) on stderr. False if posting failed."""
    try:
        outcome = upsert(forge, pr, comment, as_login)
    except (PostError, ValueError) as err:
        print(f"preview_comment: posting failed: {err}", file=sys.stderr)
        return False
    print(outcome.describe(forge.name), file=sys.stderr)
    return True


if __name__ == "__main__":
    sys.exit(main())
