#!/usr/bin/env bash
# The project's test command (README, "Run the tests"; .ci/run calls it).
# On a fresh machine it installs what it needs: the virtualenv, a Docker engine,
# the locally built service images and the Pulumi toolchain (heavy builds are
# cached under ${MLOPS_CACHE_DIR:-~/.cache/mlops-stack}, outside the checkout).
#
#   scripts/test.sh          lint, type checks, unit, integration and end-to-end tests
#   scripts/test.sh unit     lint, type checks and unit tests only (seconds, no Docker)
#
# Outside CI, a missing engine, image or toolchain skips the tests that need it,
# with the reason; in CI (CI=true) it fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
scope="${1:-all}"
step() { echo "== $* ($(date -u +%H:%M:%S))"; }

step "virtualenv"
scripts/python-env.sh

step "lint and types"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy .

# Before the scope split: tests/unit/test_workflows.py runs in both scopes.
step "actionlint (lints the GitHub workflow)"
if ! scripts/actionlint.sh >/dev/null; then
  [ "${CI:-}" = "true" ] && { echo "actionlint could not be built" >&2; exit 1; }
  echo "no actionlint: the workflow lint test will skip" >&2
fi

step "shellcheck (lints the scripts that handle secrets)"
if ! scripts/shellcheck.sh; then
  [ "${CI:-}" = "true" ] && { echo "shellcheck could not be installed" >&2; exit 1; }
  echo "no shellcheck: the script lint test will skip" >&2
fi

markers=()
if [ "$scope" = "unit" ]; then
  markers=(-m "not integration and not e2e")
else
  # The toolchain's Go builds (CPU) run beside the images' (mostly downloads): from empty
  # caches that saves most of the shorter of the two.
  toolchain_pid=""
  toolchain_log="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}/logs/toolchain-test.log"
  if ! command -v pulumi >/dev/null 2>&1; then
    step "pulumi toolchain (building in the background: $toolchain_log)"
    mkdir -p "$(dirname "$toolchain_log")"
    offline/toolchain.sh >"$toolchain_log" 2>&1 &
    toolchain_pid=$!
  fi
  step "docker engine"
  if ! scripts/docker-engine.sh; then
    [ "${CI:-}" = "true" ] && { echo "no Docker engine: CI cannot run the integration tests" >&2; exit 1; }
    echo "no Docker engine: integration and e2e tests will skip" >&2
  fi
  if docker info >/dev/null 2>&1; then
    step "local images"
    offline/build-images.sh
  fi
  step "groovy (the tests' Jenkinsfile stand-in)"
  if ! scripts/groovy.sh; then
    [ "${CI:-}" = "true" ] && { echo "groovy could not be installed" >&2; exit 1; }
    echo "no groovy: the tests that run the Jenkinsfile will skip" >&2
  fi
  step "pulumi toolchain"
  if [ -n "$toolchain_pid" ] && ! wait "$toolchain_pid"; then
    tail -n 40 "$toolchain_log" >&2
    [ "${CI:-}" = "true" ] && { echo "the Pulumi toolchain could not be built" >&2; exit 1; }
    echo "no Pulumi toolchain: e2e tests will skip" >&2
  fi
  # shellcheck source=scripts/env.sh
  source scripts/env.sh
fi

step "pytest"
set +e
.venv/bin/python -m pytest "${markers[@]}"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$status"
