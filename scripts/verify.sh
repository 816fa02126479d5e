#!/usr/bin/env bash
# Check a live stack end to end and print a report to attach to a bug report (README,
# "What is verified"): the acceptance tier (tests/acceptance), run against the outputs of
# an existing stack, as its user reads them with `pulumi stack output`.
#
#   scripts/verify.sh <stack> [pytest options, e.g. -k services]
#
# Checks for a disabled or faked service say so. On a stack with Jenkins it pushes an
# empty commit to main of de_datapreprocessing (the webhook-to-image check); every check
# that writes removes what it wrote where its account may. The report (also written under
# ~/.cache/mlops-stack/reports/, or $MLOPS_VERIFY_REPORT) holds no secret.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: scripts/verify.sh <stack> [pytest options]" >&2; exit 2; }
stack="$1"
shift
scripts/python-env.sh >/dev/null
# shellcheck source=scripts/env.sh
source scripts/env.sh
export MLOPS_VERIFY_STACK="$stack"
# The report is the output: no tracebacks or assertion details (they could quote a secret).
exec .venv/bin/python -m pytest tests/acceptance -p no:cacheprovider -q --no-header --tb=no -rN "$@"
