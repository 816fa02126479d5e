#!/usr/bin/env bash
# Preview stacks and post the comment on a pull request, on the Docker host: what the GitHub
# workflow (.github/workflows/preview.yml) and Jenkins' preview job
# (.jenkins/preview.Jenkinsfile) run, from a checkout of the pull request
# (README, "Review changes in pull requests").
#
#   scripts/preview_pr.sh github|gitbucket OWNER/NAME PR_NUMBER "STACK [STACK...]"
#
# Environment (secrets only here, never on a command line):
#   the forge's login: GITHUB_TOKEN; or GITBUCKET_URL, GITBUCKET_USER, GITBUCKET_PASSWORD
#   PULUMI_CONFIG_PASSPHRASE  optional: else the host's passphrase file (scripts/env.sh);
#                             set but empty counts as unset
#   MLOPS_ALLOW_DATA_LOSS=1   the data-loss override, when the caller knows it (GitHub's event)
#   PREVIEW_OVERRIDE_LABEL    the label that overrides it, looked up on the pull request
#                             (GitBucket: no event tells the job); allow-data-loss
#   PREVIEW_SUMMARY_FILE      optional: also write the comment there (GitHub's job summary)
# Exit: 0 posted; 1 failed (the reason on stderr); 2 posted, and a change would lose data
# without the override. The comment is not printed: the log stays free of it.
set -euo pipefail
if [ $# -ne 4 ]; then
  echo "usage: $0 github|gitbucket OWNER/NAME PR_NUMBER \"STACK [STACK...]\"" >&2
  exit 1
fi
forge=$1 repo=$2 pr=$3 stacks=$4
case $forge in github | gitbucket) ;; *)
  echo "unknown forge '$forge': github or gitbucket" >&2
  exit 1
  ;;
esac
if [[ ! $pr =~ ^[1-9][0-9]*$ ]]; then
  echo "invalid pull request number '$pr'" >&2
  exit 1
fi
args=()
for stack in $stacks; do
  if [[ ! $stack =~ ^[a-z0-9]+([._-][a-z0-9]+)*$ ]]; then
    echo "invalid stack name '$stack' in the stacks to preview" >&2
    exit 1
  fi
  args+=(--stack "$stack")
done
if [ ${#args[@]} -eq 0 ]; then
  echo "no stack to preview" >&2
  exit 1
fi
cd "$(dirname "$0")/.."
# An unset repository secret arrives as an empty variable, which Pulumi would take as an
# empty passphrase: drop it, so that scripts/env.sh picks the host's passphrase file.
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ]; then unset PULUMI_CONFIG_PASSPHRASE; fi
scripts/python-env.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh
if ! command -v pulumi >/dev/null; then
  echo "no pulumi CLI on this host: run offline/toolchain.sh as this account" >&2
  exit 1
fi
exec .venv/bin/python -m preview_comment "${args[@]}" \
  --post "$forge" --repo "$repo" --pr "$pr" \
  --override-label "${PREVIEW_OVERRIDE_LABEL:-allow-data-loss}" \
  ${PREVIEW_SUMMARY_FILE:+--out "$PREVIEW_SUMMARY_FILE"} >/dev/null
