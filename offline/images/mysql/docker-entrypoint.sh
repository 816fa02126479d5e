#!/bin/bash
# Entrypoint with the official mysql image's behaviour (mysql:8.4's
# docker-entrypoint.sh), for Debian's MySQL 9.7:
# - started as root: fix ownership of the datadir, then re-run as mysql (setpriv
#   instead of gosu);
# - on first start (no datadir/mysql): `mysqld --initialize-insecure`, then a
#   temporary server on the socket only (skip-networking, so TCP health checks
#   fail until the real server is up) sets the root password for
#   root@localhost and root@${MYSQL_ROOT_HOST:-%}, loads the timezone tables,
#   installs the classic_hashing component (MD5/SHA1 as in 8.4), creates
#   MYSQL_DATABASE and MYSQL_USER, and runs
#   /docker-entrypoint-initdb.d/*.{sh,sql,sql.gz,sql.bz2,sql.xz,sql.zst};
# - then exec the server.
set -eo pipefail
shopt -s nullglob

log()  { printf '%s+00:00 [Note] [Entrypoint]: %s\n' "$(date -u '+%FT%T')" "$*"; }
warn() { printf '%s+00:00 [Warn] [Entrypoint]: %s\n' "$(date -u '+%FT%T')" "$*" >&2; }
die()  { printf '%s+00:00 [ERROR] [Entrypoint]: %s\n' "$(date -u '+%FT%T')" "$*" >&2; exit 1; }

# VAR or VAR_FILE (not both); default as second argument.
file_env() {
  local var="$1" file="${1}_FILE" def="${2:-}" val="${2:-}"
  if [ -n "${!var:-}" ] && [ -n "${!file:-}" ]; then die "Both $var and $file are set (but are exclusive)"; fi
  if [ -n "${!var:-}" ]; then val="${!var}"
  elif [ -n "${!file:-}" ]; then val="$(< "${!file}")"; fi
  export "$var"="${val:-$def}"
  unset "$file"
}

# Escape a value for use inside '...' in SQL.
sql_str() { local s="${1//\\/\\\\}"; printf '%s' "${s//\'/\\\'}"; }
# Quote an identifier with backticks.
sql_ident() { printf '`%s`' "${1//\`/\`\`}"; }

# Value of a server option as the server would see it (config files included).
mysql_get_config() {
  local conf="$1"; shift
  "$@" --verbose --help --log-bin-index="$(mktemp -u)" 2>/dev/null \
    | awk -v conf="$conf" '$1 == conf && /^[^ \t]/ { sub(/^[^ \t]+[ \t]+/, ""); print; exit }'
}

# `mysqld -x` or `--flag` as first argument: run the server with those flags.
if [ "${1:0:1}" = '-' ]; then set -- mysqld "$@"; fi

case "$1" in mysqld) ;; *) exec "$@" ;; esac

# Help/version runs need no datadir.
for arg; do
  case "$arg" in -'?'|--help|--print-defaults|-V|--version) exec "$@" ;; esac
done

log "Entrypoint script for MySQL Server $("$1" --version | awk '{print $3}') started."

# Fail early on a bad configuration (with the server's own message).
if ! errors="$("$@" --verbose --help --log-bin-index="$(mktemp -u)" 2>&1 >/dev/null)"; then
  die "mysqld failed while attempting to check config
	command was: $* --verbose --help --log-bin-index=$(mktemp -u)
	$errors"
fi

DATADIR="$(mysql_get_config datadir "$@")"; DATADIR="${DATADIR:-/var/lib/mysql/}"
SOCKET="$(mysql_get_config socket "$@")"; SOCKET="${SOCKET:-/run/mysqld/mysqld.sock}"
FILES_DIR="$(mysql_get_config secure-file-priv "$@")"

if [ "$(id -u)" = 0 ]; then
  # Volumes may come in owned by root; everything below runs as mysql.
  mkdir -p "$DATADIR"
  find "$DATADIR" \! -user mysql -exec chown mysql:mysql '{}' +
  if [ -n "$FILES_DIR" ] && [ "$FILES_DIR" != NULL ]; then
    mkdir -p "$FILES_DIR"
    find "$FILES_DIR" \! -user mysql -exec chown mysql:mysql '{}' +
  fi
  log "Switching to dedicated user 'mysql'"
  exec setpriv --reuid=mysql --regid=mysql --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ ! -d "$DATADIR/mysql" ]; then
  file_env MYSQL_ROOT_HOST '%'
  file_env MYSQL_DATABASE
  file_env MYSQL_USER
  file_env MYSQL_PASSWORD
  file_env MYSQL_ROOT_PASSWORD
  if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ] && [ -z "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    die "Database is uninitialized and password option is not specified
    You need to specify one of the following as an environment variable:
    - MYSQL_ROOT_PASSWORD
    - MYSQL_ALLOW_EMPTY_PASSWORD
    - MYSQL_RANDOM_ROOT_PASSWORD"
  fi
  if [ "$MYSQL_USER" = root ]; then
    die "MYSQL_USER=\"root\", MYSQL_USER and MYSQL_PASSWORD are for configuring a regular user and cannot be used for the root user
    Remove MYSQL_USER=\"root\" and use one of the following to control the root user password:
    - MYSQL_ROOT_PASSWORD
    - MYSQL_ALLOW_EMPTY_PASSWORD
    - MYSQL_RANDOM_ROOT_PASSWORD"
  fi
  if [ -n "$MYSQL_USER" ] && [ -z "$MYSQL_PASSWORD" ]; then
    warn "MYSQL_USER specified, but missing MYSQL_PASSWORD; MYSQL_USER will not be created"
  elif [ -z "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
    warn "MYSQL_PASSWORD specified, but missing MYSQL_USER; MYSQL_PASSWORD will be ignored"
  fi
  # Unreadable init scripts should fail now, not after the init.
  ls /docker-entrypoint-initdb.d/ >/dev/null

  log "Initializing database files"
  mkdir -p "$DATADIR"
  "$@" --initialize-insecure --default-time-zone=SYSTEM
  log "Database files initialized"

  log "Starting temporary server"
  # No TCP at all (classic or X protocol) until the init is done.
  "$@" --skip-networking --mysqlx=OFF --default-time-zone=SYSTEM --socket="$SOCKET" &
  tmp_pid=$!
  client=(mysql --protocol=socket --socket="$SOCKET" -uroot --default-character-set=utf8mb4 --comments)
  for _ in $(seq 60); do
    if "${client[@]}" -e 'SELECT 1' >/dev/null 2>&1; then break; fi
    kill -0 "$tmp_pid" 2>/dev/null || die "Unable to start server."
    sleep 1
  done
  "${client[@]}" -e 'SELECT 1' >/dev/null || die "Unable to start server."
  log "Temporary server started."

  if [ -z "${MYSQL_INITDB_SKIP_TZINFO:-}" ]; then
    # Like the official image: 'Local time zone must be set' becomes FCTY.
    { echo "SET @@SESSION.SQL_LOG_BIN=0;"
      mysql_tzinfo_to_sql /usr/share/zoneinfo 2>/dev/null \
        | sed 's/Local time zone must be set--see zic manual page/FCTY/'
    } | "${client[@]}" mysql
  fi

  if [ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]; then
    random="$(head -c 48 /dev/urandom | base64 -w0)"; random="${random//[^A-Za-z0-9]/}"
    MYSQL_ROOT_PASSWORD="${random:0:32}"
    export MYSQL_ROOT_PASSWORD
    log "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
  fi

  pw="$(sql_str "$MYSQL_ROOT_PASSWORD")"
  root_host="$(sql_str "$MYSQL_ROOT_HOST")"
  {
    # --initialize-insecure leaves root@localhost (no password) and the
    # mysql.* system accounts; no anonymous users, no test database.
    echo "SET autocommit = 1;"
    echo "SET @@SESSION.SQL_LOG_BIN=0;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$pw';"
    if [ "$MYSQL_ROOT_HOST" != localhost ]; then
      echo "CREATE USER 'root'@'$root_host' IDENTIFIED BY '$pw';"
      echo "GRANT ALL ON *.* TO 'root'@'$root_host' WITH GRANT OPTION;"
      echo "GRANT PROXY ON ''@'' TO 'root'@'$root_host' WITH GRANT OPTION;"
    fi
    echo "DROP DATABASE IF EXISTS test;"
    # MySQL 9.6 moved MD5(), SHA1() and SHA() out of the server into this
    # component; mysql:8.4 has them built in, so load it (it stays registered
    # in mysql.component and is loaded on every start).
    echo "INSTALL COMPONENT 'file://component_classic_hashing';"
    if [ -n "$MYSQL_DATABASE" ]; then
      log "Creating database ${MYSQL_DATABASE}" >&2
      echo "CREATE DATABASE IF NOT EXISTS $(sql_ident "$MYSQL_DATABASE");"
    fi
    if [ -n "$MYSQL_USER" ] && [ -n "$MYSQL_PASSWORD" ]; then
      log "Creating user ${MYSQL_USER}" >&2
      echo "CREATE USER '$(sql_str "$MYSQL_USER")'@'%' IDENTIFIED BY '$(sql_str "$MYSQL_PASSWORD")';"
      if [ -n "$MYSQL_DATABASE" ]; then
        log "Giving user ${MYSQL_USER} access to schema ${MYSQL_DATABASE}" >&2
        # '_' is a wildcard in a GRANT's database name; escape it as upstream.
        echo "GRANT ALL ON $(sql_ident "${MYSQL_DATABASE//_/\\_}").* TO '$(sql_str "$MYSQL_USER")'@'%';"
      fi
    fi
    echo "FLUSH PRIVILEGES;"
  } | "${client[@]}"

  # From here on root needs its password; pass it via the environment.
  export MYSQL_PWD="$MYSQL_ROOT_PASSWORD"
  db_client=("${client[@]}")
  if [ -n "$MYSQL_DATABASE" ]; then db_client+=("$MYSQL_DATABASE"); fi
  echo
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then log "$0: running $f"; "$f"
        else log "$0: sourcing $f"; . "$f"; fi ;;
      *.sql)     log "$0: running $f"; "${db_client[@]}" <"$f" ;;
      *.sql.bz2) log "$0: running $f"; bunzip2 -c "$f" | "${db_client[@]}" ;;
      *.sql.gz)  log "$0: running $f"; gunzip -c "$f" | "${db_client[@]}" ;;
      *.sql.xz)  log "$0: running $f"; xzcat "$f" | "${db_client[@]}" ;;
      *.sql.zst) log "$0: running $f"; zstd -dc "$f" | "${db_client[@]}" ;;
      *)         log "$0: ignoring $f" ;;
    esac
    echo
  done

  if [ -n "${MYSQL_ONETIME_PASSWORD:-}" ]; then
    # Like upstream: the network root account (this session's root@localhost
    # only if that is the sole root account; then it must be the last statement).
    printf "SET @@SESSION.SQL_LOG_BIN=0;\nALTER USER 'root'@'%s' PASSWORD EXPIRE;\n" "$root_host" | "${client[@]}"
  fi
  unset MYSQL_PWD

  log "Stopping temporary server"
  kill "$tmp_pid"
  wait "$tmp_pid" || true
  log "Temporary server stopped"
  echo
  log "MySQL init process done. Ready for start up."
  echo
fi

exec "$@"
