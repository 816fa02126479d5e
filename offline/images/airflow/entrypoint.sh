#!/usr/bin/env bash
# Entrypoint with the behaviour of the official apache/airflow image that the
# stack relies on (written for this image, not copied):
#   <image> airflow api-server | <image> api-server   -> airflow api-server
#   <image> bash -c ... | python ... | any executable  -> run as given
#   _AIRFLOW_DB_MIGRATE=true      run `airflow db migrate` first (with no
#                                 command given, exit 0 afterwards)
#   _AIRFLOW_WWW_USER_CREATE=true create the admin user (FAB auth manager only)
#   _PIP_ADDITIONAL_REQUIREMENTS  pip install extras at start (testing only)
#   CONNECTION_CHECK_MAX_COUNT / CONNECTION_CHECK_SLEEP_TIME: wait for the DB
#     (`airflow db check`) before airflow commands that need it.
set -euo pipefail

# Group-writable files, so any uid with gid 0 can share volumes (as upstream).
umask 0002

if [ "$(id -g)" != 0 ]; then
  if [ "$(id -u)" = 50000 ]; then
    echo "WARNING: run this image with GID 0 (e.g. user 50000:0); you use $(id -u):$(id -g)" >&2
  else
    echo "ERROR: run this image with GID 0; you use $(id -u):$(id -g)" >&2
    exit 1
  fi
fi
# Arbitrary uid (OpenShift style): give it a passwd-less HOME.
if ! whoami >/dev/null 2>&1; then export HOME="$AIRFLOW_USER_HOME_DIR"; fi

CONNECTION_CHECK_MAX_COUNT="${CONNECTION_CHECK_MAX_COUNT:-20}"
CONNECTION_CHECK_SLEEP_TIME="${CONNECTION_CHECK_SLEEP_TIME:-3}"

wait_for_db() {
  local left="$CONNECTION_CHECK_MAX_COUNT" out
  [ "$left" -gt 0 ] || return 0
  until out="$(airflow db check 2>&1)"; do
    left=$((left - 1))
    if [ "$left" -le 0 ]; then
      echo "ERROR: metadata database not reachable after $CONNECTION_CHECK_MAX_COUNT checks. Last output:" >&2
      echo "$out" >&2
      exit 1
    fi
    echo "waiting for the metadata database ($left checks left)" >&2
    sleep "$CONNECTION_CHECK_SLEEP_TIME"
  done
}

create_www_user() {
  local pw=""
  if [ -n "${_AIRFLOW_WWW_USER_PASSWORD_CMD:-}" ]; then pw="$(eval "$_AIRFLOW_WWW_USER_PASSWORD_CMD")"
  else pw="${_AIRFLOW_WWW_USER_PASSWORD:-}"; fi
  unset _AIRFLOW_WWW_USER_PASSWORD _AIRFLOW_WWW_USER_PASSWORD_CMD
  if [ -z "$pw" ]; then
    echo "ERROR: set _AIRFLOW_WWW_USER_PASSWORD or _AIRFLOW_WWW_USER_PASSWORD_CMD" >&2; exit 1
  fi
  # `airflow users` exists only with the FAB auth manager.
  if ! airflow config get-value core auth_manager 2>/dev/null | grep -q FabAuthManager; then
    echo "Skipping user creation: auth manager is not FabAuthManager" >&2; return 0
  fi
  airflow users create \
    --username "${_AIRFLOW_WWW_USER_USERNAME:-admin}" \
    --firstname "${_AIRFLOW_WWW_USER_FIRSTNAME:-Airflow}" \
    --lastname "${_AIRFLOW_WWW_USER_LASTNAME:-Admin}" \
    --email "${_AIRFLOW_WWW_USER_EMAIL:-airflowadmin@example.com}" \
    --role "${_AIRFLOW_WWW_USER_ROLE:-Admin}" \
    --password "$pw" || true
}

# Decide what to run: `airflow X` and bare `X` both mean airflow; another
# executable on PATH (bash, python, sh, ...) is run as is. Airflow 3.3's
# top-level commands win over same-named programs (coreutils has `users`).
AIRFLOW_COMMANDS=" api-server assets backfill celery cheat-sheet config connections dag-processor
  dags db db-manager fab-db info jobs kerberos partitions permissions-cleanup plugins pools
  providers roles rotate-fernet-key scheduler standalone state-store sync-perm tasks teams
  triggerer users variables version "
if [ $# -gt 0 ] && [ "$1" != airflow ] && [[ "$AIRFLOW_COMMANDS" != *[[:space:]]"$1"[[:space:]]* ]] \
   && command -v "$1" >/dev/null 2>&1; then
  exec "$@"
fi
[ "${1:-}" = airflow ] && shift

# Sub-commands that do not touch the metadata DB skip the wait.
case "${1:-}" in
  ""|version|info|config|cheat-sheet|-h|--help) ;;
  *) wait_for_db ;;
esac

if [ -n "${_AIRFLOW_DB_MIGRATE:-}${_AIRFLOW_DB_UPGRADE:-}" ]; then
  [ -n "${_AIRFLOW_DB_UPGRADE:-}" ] && echo "WARNING: _AIRFLOW_DB_UPGRADE is deprecated, use _AIRFLOW_DB_MIGRATE" >&2
  airflow db migrate || true
fi
if [ -n "${_AIRFLOW_WWW_USER_CREATE:-}" ]; then create_www_user; fi
if [ -n "${_PIP_ADDITIONAL_REQUIREMENTS:-}" ]; then
  echo "WARNING: installing _PIP_ADDITIONAL_REQUIREMENTS at start-up (testing only)" >&2
  # shellcheck disable=SC2086  # a space-separated list of requirements
  pip install "apache-airflow==${AIRFLOW_VERSION}" $_PIP_ADDITIONAL_REQUIREMENTS
fi

# No command: an "init" container (e.g. _AIRFLOW_DB_MIGRATE=true) is done now;
# otherwise show airflow's usage like the official image does.
if [ $# -eq 0 ] && [ -n "${_AIRFLOW_DB_MIGRATE:-}${_AIRFLOW_DB_UPGRADE:-}${_AIRFLOW_WWW_USER_CREATE:-}" ]; then
  exit 0
fi
exec airflow "$@"
