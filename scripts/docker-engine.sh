#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine.
# No container registry is reachable here, so the engine is Debian's docker.io
# (20.10, API 1.41); the newer docker CLI in /usr/local/bin negotiates down to it.
# Idempotent: does nothing when `docker info` already answers.
set -euo pipefail

CACHE_DIR="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}"
LOG="$CACHE_DIR/dockerd.log"
START_TIMEOUT="${DOCKERD_START_TIMEOUT:-60}"
LOCK_TIMEOUT="${DPKG_LOCK_TIMEOUT:-900}"

log() { echo "[docker-engine] $*" >&2; }

engine_up() { docker info >/dev/null 2>&1; }

if engine_up; then
  log "engine already answers; nothing to do"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Another process (e.g. a background `apt-get install docker.io debootstrap`)
# may hold the dpkg/apt locks: wait for it instead of failing.
wait_for_dpkg() {
  local waited=0
  while $SUDO fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock \
          /var/lib/apt/lists/lock /var/cache/apt/archives/lock >/dev/null 2>&1 \
        || pgrep -x 'apt-get|apt|dpkg' >/dev/null 2>&1; do
    if [ "$waited" -ge "$LOCK_TIMEOUT" ]; then
      log "ERROR: dpkg/apt still locked after ${LOCK_TIMEOUT}s"; exit 1
    fi
    [ $((waited % 30)) -eq 0 ] && log "waiting for the dpkg/apt lock (${waited}s)"
    sleep 5; waited=$((waited + 5))
  done
}

apt_install() {
  wait_for_dpkg
  # -o DPkg::Lock::Timeout makes apt itself wait too, in case a lock appears between checks.
  if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
        -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" "$@"; then
    log "install failed; refreshing package lists and retrying"
    wait_for_dpkg
    $SUDO apt-get update -o DPkg::Lock::Timeout="$LOCK_TIMEOUT"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
      -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" "$@"
  fi
}

# dockerd from docker.io; fuser (psmisc) is only used for the lock check above
# and may be missing, in which case pgrep alone decides.
if ! command -v dockerd >/dev/null 2>&1 || ! dpkg -s docker.io >/dev/null 2>&1; then
  # Empty package lists (fresh machine) => update first.
  if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
    wait_for_dpkg
    $SUDO apt-get update -o DPkg::Lock::Timeout="$LOCK_TIMEOUT"
  fi
  log "installing docker.io"
  apt_install docker.io
fi

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
