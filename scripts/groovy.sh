#!/usr/bin/env bash
# Debian's groovy (2.4.21, the Groovy of Jenkins core) for the tests' Jenkinsfile
# stand-in (tests/support/jenkinsfile_standin.groovy): Jenkins itself cannot be
# obtained on machines without a container registry. Idempotent.
set -euo pipefail

log() { echo "[groovy] $*" >&2; }

# shellcheck source=scripts/lib/apt.sh
source "$(dirname "$0")/lib/apt.sh"
apt_install_missing groovy
java_home="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
log "$(JAVA_HOME="$java_home" groovy --version)"
