#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine.
# No container registry is reachable here, so the engine is Debian's docker.io
# (20.10, API 1.41); the newer docker CLI in /usr/local/bin negotiates down to it.
# Idempotent: does nothing when `docker info` already answers.
set -euo pipefail

CACHE_DIR="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}"
LOG="$CACHE_DIR/dockerd.log"
START_TIMEOUT="${DOCKERD_START_TIMEOUT:-60}"

log() { echo "[docker-engine] $*" >&2; }

engine_up() { docker info >/dev/null 2>&1; }

if engine_up; then
  log "engine already answers; nothing to do"
  exit 0
fi

# shellcheck source=scripts/lib/apt.sh
source "$(dirname "$0")/lib/apt.sh"

# dockerd from docker.io; fuser (psmisc) is only used for the lock check in lib/apt.sh
# and may be missing, in which case pgrep alone decides.
apt_install_missing docker.io

mkdir -p "$CACHE_DIR"

# A dockerd may already be starting (e.g. a concurrent run of this script):
# only start one if none is running.
if ! pgrep -x dockerd >/dev/null 2>&1; then
  log "starting dockerd (log: $LOG)"
  # setsid+nohup: the daemon must outlive this shell and the caller's session.
  $SUDO setsid nohup dockerd >>"$LOG" 2>&1 </dev/null &
  disown || true
else
  log "dockerd process exists; waiting for it to answer"
fi

for _ in $(seq 1 "$START_TIMEOUT"); do
  if engine_up; then
    log "engine up: $(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}' 2>/dev/null || echo ok)"
    exit 0
  fi
  sleep 1
done

log "ERROR: docker engine did not answer within ${START_TIMEOUT}s. Last lines of $LOG:"
tail -n 40 "$LOG" >&2 || true
exit 1
