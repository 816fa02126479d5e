# Sourced by scripts that install Debian packages: waits for other apt/dpkg runs
# instead of failing on their locks, and refreshes empty package lists first.
# Callers define log() and may set DPKG_LOCK_TIMEOUT.
LOCK_TIMEOUT="${DPKG_LOCK_TIMEOUT:-900}"

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

# apt_install_missing <package>...: install those not installed yet.
apt_install_missing() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  # Empty package lists (fresh machine) => update first.
  if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
    wait_for_dpkg
    $SUDO apt-get update -o DPkg::Lock::Timeout="$LOCK_TIMEOUT"
  fi
  log "installing ${missing[*]}"
  apt_install "${missing[@]}"
}
