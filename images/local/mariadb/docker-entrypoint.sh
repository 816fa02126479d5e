#!/bin/bash
# Entrypoint with the official mysql image's behaviour, for MariaDB 10.11:
# - on first start (empty datadir): initialise it, set the root password for
#   root@localhost and root@${MYSQL_ROOT_HOST:-%}, create MYSQL_DATABASE and
#   MYSQL_USER, run /docker-entrypoint-initdb.d/*.{sh,sql,sql.gz,sql.xz,sql.zst};
#   meanwhile a temporary server listens on the socket only (skip-networking),
#   so TCP health checks fail until the real server is up;
# - then exec the server (it drops to the mysql user itself via --user).
set -eo pipefail
shopt -s nullglob

log()  { printf '%s [Entrypoint]: %s\n' "$(date -u '+%F %T+00:00')" "$*"; }
die()  { log "ERROR: $*" >&2; exit 1; }

# VAR, VAR_FILE, or the MARIADB_* alias of either (first one set wins).
file_env() {
  local var="$1" alt="MARIADB_${1#MYSQL_}" def="${2:-}" val="" n
  for n in "$var" "$alt"; do
    local f="${n}_FILE"
    if [ -n "${!n:-}" ] && [ -n "${!f:-}" ]; then die "both $n and $f are set (but are exclusive)"; fi
    if [ -n "${!n:-}" ]; then val="${!n}"; break; fi
    if [ -n "${!f:-}" ]; then val="$(< "${!f}")"; break; fi
  done
  export "$var"="${val:-$def}"
  unset "${var}_FILE" "${alt}_FILE"
}

# Escape a value for use inside '...' in SQL.
sql_str() { local s="${1//\\/\\\\}"; printf '%s' "${s//\'/\\\'}"; }

# `mariadbd -x` or `--flag` as first argument: run the server with those flags.
if [ "${1:0:1}" = '-' ]; then set -- mariadbd "$@"; fi

case "$1" in mariadbd|mysqld) ;; *) exec "$@" ;; esac

# Help/version runs need no datadir.
for arg; do
  case "$arg" in -'?'|--help|--print-defaults|-V|--version) exec "$@" ;; esac
done

DATADIR="$("$@" --verbose --help 2>/dev/null | awk '$1 == "datadir" { print $2; exit }' || true)"
DATADIR="${DATADIR:-/var/lib/mysql/}"
SOCKET=/run/mysqld/mysqld.sock

if [ "$(id -u)" = 0 ]; then
  # Volumes may come in owned by root; the server runs as mysql.
  mkdir -p "$DATADIR" /run/mysqld
  chown mysql:mysql /run/mysqld
  find "$DATADIR" \! -user mysql -exec chown mysql:mysql '{}' +
  set -- "$@" --user=mysql
fi

if [ ! -d "$DATADIR/mysql" ]; then
  file_env MYSQL_ROOT_PASSWORD
  file_env MYSQL_ROOT_HOST '%'
  file_env MYSQL_DATABASE
  file_env MYSQL_USER
  file_env MYSQL_PASSWORD
  : "${MYSQL_ALLOW_EMPTY_PASSWORD:=${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-}}"
  : "${MYSQL_RANDOM_ROOT_PASSWORD:=${MARIADB_RANDOM_ROOT_PASSWORD:-}}"
  if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "$MYSQL_ALLOW_EMPTY_PASSWORD" ] && [ -z "$MYSQL_RANDOM_ROOT_PASSWORD" ]; then
    die "database is uninitialized and password option is not specified
    You need to specify one of the following as an environment variable:
    - MYSQL_ROOT_PASSWORD
    - MYSQL_ALLOW_EMPTY_PASSWORD
    - MYSQL_RANDOM_ROOT_PASSWORD"
  fi
  if [ "$MYSQL_USER" = root ]; then
    die "MYSQL_USER=\"root\", MYSQL_USER and MYSQL_PASSWORD are for configuring a regular user and cannot be used for the root user"
  fi
  if [ -n "$MYSQL_RANDOM_ROOT_PASSWORD" ]; then
    MYSQL_ROOT_PASSWORD="$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32)"
    log "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
  fi

  log "Initializing database files in $DATADIR"
  # root@localhost gets a plain password (not unix_socket), like MySQL.
  mariadb-install-db --user=mysql --datadir="$DATADIR" --rpm --skip-test-db \
    --auth-root-authentication-method=normal --cross-bootstrap >/dev/null
  log "Database files initialized"

  log "Starting temporary server"
  "$@" --skip-networking --socket="$SOCKET" --skip-log-bin &
  tmp_pid=$!
  client=(mariadb --protocol=socket --socket="$SOCKET" -uroot --default-character-set=utf8mb4)
  for _ in $(seq 60); do
    if "${client[@]}" -e 'SELECT 1' >/dev/null 2>&1; then break; fi
    kill -0 "$tmp_pid" 2>/dev/null || die "temporary server exited during startup"
    sleep 1
  done
  "${client[@]}" -e 'SELECT 1' >/dev/null || die "temporary server did not start"
  log "Temporary server started"

  if [ -z "${MYSQL_INITDB_SKIP_TZINFO:-${MARIADB_INITDB_SKIP_TZINFO:-}}" ]; then
    # It warns about a few zone files it cannot load; harmless.
    mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo 2>/dev/null | "${client[@]}" mysql
  fi

  pw="$(sql_str "$MYSQL_ROOT_PASSWORD")"
  root_host="$(sql_str "$MYSQL_ROOT_HOST")"
  {
    # Only root accounts remain, as in the official image: no anonymous users,
    # no socket-only mysql@localhost.
    echo "SET @@SESSION.SQL_LOG_BIN=0;"
    echo "DROP USER IF EXISTS ''@'localhost', 'mysql'@'localhost', 'root'@'127.0.0.1', 'root'@'::1';"
    echo "EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS \\'\\'@\\'', @@hostname, '\\'');"
    echo "EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS \\'root\\'@\\'', @@hostname, '\\'');"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw';"
    if [ "$MYSQL_ROOT_HOST" != localhost ]; then
      echo "CREATE USER IF NOT EXISTS 'root'@'$root_host' IDENTIFIED BY '$pw';"
      echo "GRANT ALL ON *.* TO 'root'@'$root_host' WITH GRANT OPTION;"
    fi
    if [ -n "$MYSQL_DATABASE" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE//\`/\`\`}\`;"
    fi
    if [ -n "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
      echo "CREATE USER IF NOT EXISTS '$(sql_str "$MYSQL_USER")'@'%' IDENTIFIED BY '$(sql_str "$MYSQL_PASSWORD")';"
      if [ -n "$MYSQL_DATABASE" ]; then
        echo "GRANT ALL ON \`${MYSQL_DATABASE//\`/\`\`}\`.* TO '$(sql_str "$MYSQL_USER")'@'%';"
      fi
    elif [ -n "$MYSQL_USER" ] || [ -n "$MYSQL_PASSWORD" ]; then
      log "WARNING: both MYSQL_USER and MYSQL_PASSWORD must be set for a user to be created"
    fi
    echo "FLUSH PRIVILEGES;"
  } | "${client[@]}"

  # From here on root needs its password; pass it via the environment.
  export MYSQL_PWD="$MYSQL_ROOT_PASSWORD"
  db_client=("${client[@]}")
  if [ -n "$MYSQL_DATABASE" ]; then db_client+=("$MYSQL_DATABASE"); fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then log "$0: running $f"; "$f"
        else log "$0: sourcing $f"; . "$f"; fi ;;
      *.sql)     log "$0: running $f"; "${db_client[@]}" <"$f" ;;
      *.sql.gz)  log "$0: running $f"; gunzip -c "$f" | "${db_client[@]}" ;;
      *.sql.xz)  log "$0: running $f"; xzcat "$f" | "${db_client[@]}" ;;
      *.sql.zst) log "$0: running $f"; zstd -dc "$f" | "${db_client[@]}" ;;
      *)         log "$0: ignoring $f" ;;
    esac
  done
  unset MYSQL_PWD

  log "Stopping temporary server"
  kill "$tmp_pid"
  wait "$tmp_pid" || true
  log "Temporary server stopped"
  log "MariaDB init process done. Ready for start up."
fi

exec "$@"
