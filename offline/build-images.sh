#!/usr/bin/env bash
# Build local stand-ins for the stack's official images, which cannot be pulled
# on machines that reach package registries only (Debian, PyPI, Go proxy).
#
#   offline/build-images.sh                   # all images
#   offline/build-images.sh mysql airflow     # only these (the base is built if missing)
#
# Images (each honours the interface of the official image it replaces):
#   debian   mlops-local/debian:bookworm                       debootstrap minbase
#   mysql    mlops-local/mysql:9.7                             for mysql:8.4 (MySQL 9.7 LTS from Debian sid)
#   minio    mlops-local/minio:RELEASE.2025-09-07T16-13-09Z    for quay.io/minio/minio (SeaweedFS inside)
#   airflow  mlops-local/airflow:3.3.2                         for apache/airflow:3.3.2
#   registry mlops-local/registry:2                            for registry:3.1.1
#   phpmyadmin mlops-local/phpmyadmin:5.2                      for phpmyadmin:5.2 (Debian's phpmyadmin 5.2.1, apache + mod_php)
#   mlflow   mlops-local/mlflow:3.17.2                         for ghcr.io/mlflow/mlflow:v3.17.2 (MLflow from PyPI)
#   gitbucket-fake mlops-local/gitbucket-fake:test             a FAKE GitBucket for the e2e stack (tests only)
#
# Reruns are cheap: an image is skipped when its tag exists and carries the
# label $HASH_LABEL equal to the hash of its build inputs (its directory under
# offline/images/, this script's version and the base image's hash).
set -euo pipefail

SCRIPT_VERSION=1   # bump to force a rebuild of everything
OFFLINE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$OFFLINE_DIR")"
IMAGES_DIR="$OFFLINE_DIR/images"
CACHE_DIR="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}"
HASH_LABEL=org.mlops-local.build-hash
ALL_IMAGES=(debian mysql minio airflow registry phpmyadmin mlflow gitbucket-fake prometheus statsd-exporter mysqld-exporter redis haproxy)

# MLOPS_IMAGE_PREFIX lets tests build into another namespace without touching
# the images other users of this engine run.
PREFIX="${MLOPS_IMAGE_PREFIX:-mlops-local}"
declare -A TAGS=(
  [debian]=$PREFIX/debian:bookworm
  [mysql]=$PREFIX/mysql:9.7
  [minio]=$PREFIX/minio:RELEASE.2025-09-07T16-13-09Z
  [airflow]=$PREFIX/airflow:3.3.2
  [registry]=$PREFIX/registry:2
  [phpmyadmin]=$PREFIX/phpmyadmin:5.2
  [mlflow]=$PREFIX/mlflow:3.17.2
  [gitbucket-fake]=$PREFIX/gitbucket-fake:test
  [prometheus]=$PREFIX/prometheus:2.42
  [statsd-exporter]=$PREFIX/statsd-exporter:0.31.0
  [mysqld-exporter]=$PREFIX/mysqld-exporter:0.14
  [redis]=$PREFIX/redis:7.0
  [haproxy]=$PREFIX/haproxy:2.6
)

log() { echo "[build-images] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The legacy builder is all Debian's engine offers (no buildx plugin here);
# saying so explicitly keeps the newer CLI from trying BuildKit.
export DOCKER_BUILDKIT=0

# ---------------------------------------------------------------- host facts
# Containers must use the same Debian mirror, proxy and apt quirks as the host.

# First Debian (non-security) mirror configured on the host.
debian_mirror() {
  local m=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    m="$(awk '/^URIs:/{uri=$2} /^Suites:/{ if ($0 ~ /bookworm( |$)/ && uri !~ /security/) {print uri; exit} }' \
          /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m="$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)"
  fi
  [ -n "$m" ] || die "no Debian bookworm mirror in this machine's apt sources (/etc/apt/sources.list{,.d}): debootstrap uses the one apt uses"
  echo "$m"
}

# Security mirror, if the host has one (else derived from the main mirror).
debian_security_mirror() {
  local m=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    m="$(awk '/^URIs:/{uri=$2} /^Suites:/{ if ($0 ~ /bookworm-security/) {print uri; exit} }' \
          /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m="$(awk '$1=="deb" && /bookworm-security/ {for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)"
  fi
  echo "${m:-$(debian_mirror)-security}"
}

# apt settings that make the host's mirror work (proxy, snapshot-style Release
# files whose Valid-Until has passed, ...). Copied into the base image.
host_apt_conf() {
  cat /etc/apt/apt.conf /etc/apt/apt.conf.d/* 2>/dev/null \
    | grep -E '^[[:space:]]*Acquire::(https?::Proxy|Check-Valid-Until|Check-Date|Retries|https?::Verify-Peer)' || true
}

# Build args handed to every `docker build`: proxies and pip index settings.
# (Docker knows the *_proxy names without an ARG line.)
BUILD_ARGS=()
collect_build_args() {
  local v val
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    if [ -n "${!v:-}" ]; then BUILD_ARGS+=(--build-arg "$v=${!v}"); fi
  done
  # pip index: env first, then pip's own config (global.index-url etc.).
  for v in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST; do
    val="${!v:-}"
    if [ -z "$val" ] && command -v pip >/dev/null 2>&1; then
      case $v in
        PIP_INDEX_URL) val="$(pip config get global.index-url 2>/dev/null || true)" ;;
        PIP_EXTRA_INDEX_URL) val="$(pip config get global.extra-index-url 2>/dev/null || true)" ;;
        PIP_TRUSTED_HOST) val="$(pip config get global.trusted-host 2>/dev/null || true)" ;;
      esac
    fi
    if [ -n "$val" ]; then BUILD_ARGS+=(--build-arg "$v=$val"); fi
  done
}

# CA bundle for pip inside builds (PyPI may be reached through a TLS-inspecting
# egress whose CA only the host trusts).
host_ca_bundle() {
  local f
  for f in "${PIP_CERT:-}" "${REQUESTS_CA_BUNDLE:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [ -n "$f" ] && [ -f "$f" ]; then echo "$f"; return; fi
  done
  die "no CA bundle found on the host"
}

# ------------------------------------------------------------------- helpers
# Hash of a directory's files (names, modes and contents), stable across checkouts.
dir_hash() {
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z \
     | xargs -0 sh -c 'for f; do printf "%s %s\n" "$f" "$(stat -c %a "$f")"; cat "$f"; done' _ \
   | sha256sum | cut -c1-16)
  # Files of offline/ the image's context-files list brings into its build context.
  if [ -f "$1/context-files" ]; then
    context_files "$1" | while read -r f; do printf '%s\n' "$f"; cat "$OFFLINE_DIR/$f"; done | sha256sum | cut -c1-16
  fi
}

context_files() { grep -vE '^\s*(#|$)' "$1/context-files"; }

image_label() {
  docker image inspect -f "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$1" 2>/dev/null || true
}

image_size() {
  docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1000/1000}'
}

# Network mode for builds: the default bridge if it reaches the Debian mirror,
# else the host network (decided once, with the base image).
BUILD_NETWORK=""
pick_build_network() {
  [ -n "$BUILD_NETWORK" ] && return
  local mirror; mirror="$(debian_mirror)"
  if docker run --rm "${TAGS[debian]}" bash -c \
       "exec 3<>/dev/tcp/\$(echo '$mirror' | sed -E 's#^https?://([^/:]+).*#\1#')/\$(case '$mirror' in https*) echo 443;; *) echo 80;; esac)" \
       >/dev/null 2>&1; then
    BUILD_NETWORK=default
  else
    BUILD_NETWORK=host
  fi
  log "builds use the '$BUILD_NETWORK' network"
}

# After a rebuild the previous image is left untagged: remove it unless a
# container or another tag still uses it (then docker refuses, which is fine).
drop_replaced_image() {
  local old_id="$1" tag="$2"
  if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
}

TIMINGS=()
record() { TIMINGS+=("$(printf '%-9s %-50s %-8s %6ss  %s' "$1" "${TAGS[$1]}" "$2" "$3" "${4:-}")"); }

# --------------------------------------------------------------- base image
build_debian() {
  local tag="${TAGS[debian]}" dir="$IMAGES_DIR/debian" start=$SECONDS
  local mirror sec_mirror hash
  mirror="$(debian_mirror)"; sec_mirror="$(debian_security_mirror)"
  hash="$( { echo "v$SCRIPT_VERSION $mirror $sec_mirror"; host_apt_conf; dir_hash "$dir"; } | sha256sum | cut -c1-16)"
  if [ "$(image_label "$tag")" = "$hash" ]; then
    record debian skipped 0 "$(image_size "$tag")"; return
  fi

  # The debootstrap tarball is cached: rebuilding the image from it takes seconds.
  local tarball="$CACHE_DIR/debian/bookworm-minbase-$hash.tar"
  if [ ! -s "$tarball" ]; then
    [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
    if ! command -v debootstrap >/dev/null; then
      log "installing debootstrap"
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=900 \
        debootstrap >/dev/null || die "debootstrap missing and could not be installed"
    fi
    rootfs="$CACHE_DIR/debian/rootfs.$$"   # global: the EXIT trap needs it
    mkdir -p "$CACHE_DIR/debian"
    rm -rf "$rootfs"
    trap 'rm -rf "$rootfs"' EXIT
    local include; include="$(grep -vE '^\s*(#|$)' "$dir/packages" | paste -sd, -)"
    log "debootstrap bookworm from $mirror (includes: $include)"
    debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$mirror" \
      >"$CACHE_DIR/debian/debootstrap.log" 2>&1 \
      || { tail -n 30 "$CACHE_DIR/debian/debootstrap.log" >&2; die "debootstrap failed"; }

    # apt inside containers: same mirrors and quirks as the host.
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $sec_mirror
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    host_apt_conf >"$rootfs/etc/apt/apt.conf.d/90mlops-host"
    # Image-style apt/dpkg settings, like the official debian:bookworm-slim
    # (clean apt caches, no translations, no docs/man pages).
    cp "$dir"/apt.conf.d/* "$rootfs/etc/apt/apt.conf.d/"
    cp "$dir"/dpkg.cfg.d/* "$rootfs/etc/dpkg/dpkg.cfg.d/"
    # Keep the image small and free of host-specific state.
    find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* \
           "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
           "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/tmp/* "$rootfs"/debootstrap
    : >"$rootfs/etc/resolv.conf"; echo localhost >"$rootfs/etc/hostname"
    tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"; trap - EXIT
    find "$CACHE_DIR/debian" -name 'bookworm-minbase-*.tar' ! -name "$(basename "$tarball")" -delete
  fi
  local old_id; old_id="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  docker import \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL $HASH_LABEL=$hash" \
    "$tarball" "$tag" >/dev/null
  drop_replaced_image "$old_id" "$tag"
  record debian built $((SECONDS - start)) "$(image_size "$tag")"
}

# --------------------------------------------------------- Dockerfile images
# Copy the image directory into a scratch context, add the host CA bundle (as
# ca-bundle.crt, used only at build time by pip/curl) and any prepared artifacts.
build_dockerfile_image() {
  local name="$1" tag="${TAGS[$1]}" dir="$IMAGES_DIR/$1" start=$SECONDS hash
  hash="$( { echo "v$SCRIPT_VERSION"; image_label "${TAGS[debian]}"; dir_hash "$dir"; } | sha256sum | cut -c1-16)"
  if [ "$(image_label "$tag")" = "$hash" ]; then
    record "$name" skipped 0 "$(image_size "$tag")"; return
  fi
  pick_build_network

  local ctx="$CACHE_DIR/build-context/$name"
  rm -rf "$ctx"; mkdir -p "$ctx"
  cp -a "$dir/." "$ctx/"
  if [ -f "$dir/context-files" ]; then
    context_files "$dir" | while read -r f; do cp "$OFFLINE_DIR/$f" "$ctx/"; done
  fi
  cp "$(host_ca_bundle)" "$ctx/ca-bundle.crt"
  # Image-specific preparation on the host (e.g. Go binaries for minio).
  if [ -x "$dir/build-bin.sh" ]; then
    log "$name: building host artifacts"
    "$dir/build-bin.sh" "$ctx/bin"
  fi

  local old_id; old_id="$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)"
  log "$name: docker build -> $tag (log: $CACHE_DIR/logs/$name.log)"
  mkdir -p "$CACHE_DIR/logs"
  if ! docker build --force-rm --network "$BUILD_NETWORK" "${BUILD_ARGS[@]}" \
        --build-arg "BASE_IMAGE=${TAGS[debian]}" \
        --label "$HASH_LABEL=$hash" -t "$tag" "$ctx" >"$CACHE_DIR/logs/$name.log" 2>&1; then
    tail -n 40 "$CACHE_DIR/logs/$name.log" >&2
    die "$name: docker build failed (full log: $CACHE_DIR/logs/$name.log)"
  fi
  rm -rf "$ctx"
  drop_replaced_image "$old_id" "$tag"
  record "$name" built $((SECONDS - start)) "$(image_size "$tag")"
}

# --------------------------------------------------------------------- main
main() {
  local want=() n
  if [ $# -eq 0 ]; then want=("${ALL_IMAGES[@]}"); else want=("$@"); fi
  for n in "${want[@]}"; do
    [ -n "${TAGS[$n]:-}" ] || die "unknown image '$n' (known: ${ALL_IMAGES[*]})"
  done

  "$ROOT/scripts/docker-engine.sh"
  collect_build_args

  # Every image is FROM the base; (re)build it first whenever anything is asked for.
  build_debian
  for n in "${ALL_IMAGES[@]}"; do
    [ "$n" = debian ] && continue
    case " ${want[*]} " in *" $n "*) build_dockerfile_image "$n" ;; esac
  done

  echo
  printf '%-9s %-50s %-8s %7s  %s\n' IMAGE TAG RESULT TIME SIZE
  printf '%s\n' "${TIMINGS[@]}"
}

main "$@"
