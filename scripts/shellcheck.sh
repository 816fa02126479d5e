#!/usr/bin/env bash
# Debian's shellcheck, for the unit test that lints the scripts handling secrets
# (tests/unit/test_preview_pr_script.py). Idempotent.
set -euo pipefail

log() { echo "[shellcheck] $*" >&2; }

# shellcheck source=scripts/lib/apt.sh
source "$(dirname "$0")/lib/apt.sh"
apt_install_missing shellcheck
log "$(shellcheck --version | sed -n 2p)"
