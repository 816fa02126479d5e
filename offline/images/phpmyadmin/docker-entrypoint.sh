#!/bin/bash
# Entrypoint with the official phpmyadmin image's interface, for what this
# stand-in supports: PMA_HOST (or PMA_HOST_FILE), PMA_PORT, PMA_VERBOSE,
# PMA_ABSOLUTE_URI, APACHE_PORT, MAX_EXECUTION_TIME, MEMORY_LIMIT, UPLOAD_LIMIT.
# Before apache starts: the runtime directories under /tmp (a tmpfs with a
# read-only root fs) and a cookie-encryption secret unless one is mounted at
# /etc/phpmyadmin/config.secret.inc.php.
set -euo pipefail

die() { echo "phpmyadmin: $*" >&2; exit 1; }

# What would silently change the security model is refused rather than ignored.
for var in PMA_ARBITRARY PMA_HOSTS PMA_SOCKET PMA_SOCKETS PMA_USER PMA_PASSWORD PMA_USER_FILE PMA_PASSWORD_FILE \
           PMA_CONTROLHOST PMA_CONTROLPORT PMA_CONTROLUSER PMA_CONTROLPASS PMA_CONTROLUSER_FILE \
           PMA_CONTROLPASS_FILE PMA_PMADB PMA_QUERYHISTORYDB PMA_CONFIG_BASE64 PMA_USER_CONFIG_BASE64; do
  if [ -n "${!var:-}" ]; then
    die "$var is not supported by this image (one server from PMA_HOST, cookie login, no configuration storage)"
  fi
done

if [ -n "${PMA_HOST_FILE:-}" ]; then
  PMA_HOST="$(cat "$PMA_HOST_FILE")"
  export PMA_HOST
fi

# A private directory of www-data's (apache's user; as root, apache serves as www-data).
runtime_dir() {
  mkdir -p "$1" 2>/dev/null || die "cannot create $1 (read-only root fs? mount a tmpfs on /tmp)"
  if [ "$(id -u)" = 0 ]; then chown www-data:www-data "$1"; fi
  chmod 0700 "$1"
}

if [[ "${1:-}" == apache2* ]]; then
  runtime_dir /tmp/phpmyadmin
  runtime_dir /tmp/phpmyadmin/sessions
  runtime_dir /tmp/phpmyadmin/tmp
  secret_file=/tmp/phpmyadmin/config.secret.inc.php
  given=/etc/phpmyadmin/config.secret.inc.php
  if [ -e "$given" ] && [ ! -r "$given" ]; then
    die "$given is not readable by $(id -un)"
  fi
  if [ ! -e "$given" ] && [ ! -s "$secret_file" ]; then
    # 32 random bytes: the key length phpMyAdmin's cookie encryption (sodium) needs.
    secret="$(od -An -vtx1 -N32 /dev/urandom | tr -d ' \n')"
    (umask 077 && printf "<?php\n\$cfg['blowfish_secret'] = hex2bin('%s');\n" "$secret" >"$secret_file.tmp")
    if [ "$(id -u)" = 0 ]; then chown www-data:www-data "$secret_file.tmp"; fi
    mv "$secret_file.tmp" "$secret_file"
  fi
fi

exec "$@"
