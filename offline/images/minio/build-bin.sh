#!/usr/bin/env bash
# Build the two static binaries the minio stand-in image needs, on the host:
#   weed  - SeaweedFS at one pinned commit (the MinIO module is refused by the
#           Go module proxy here, so SeaweedFS serves S3 instead)
#   minio - ./shim, which gives weed MinIO's command line, env and health paths
# Usage: build-bin.sh OUT_DIR. Outputs are cached under $CACHE_DIR/go/bin and
# reused while the pins and shim sources are unchanged.
set -euo pipefail

OUT="${1:?usage: build-bin.sh OUT_DIR}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_DIR="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}"

SEAWEEDFS_MODULE=github.com/seaweedfs/seaweedfs
SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6   # accepted by the proxy; weed 4.53
# SeaweedFS' go.mod replaces this module (deleted upstream); `go install` refuses
# modules with replace directives, so a wrapper module copies the line.
SEAWEEDFS_REPLACE='github.com/tyler-smith/go-bip39 => github.com/cosmos/go-bip39 v1.0.0'

export GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/cache"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
mkdir -p "$GOMODCACHE" "$GOCACHE" "$CACHE_DIR/go/bin" "$OUT"

# weed: keyed by version, so a rebuild happens only when the pin changes.
weed_bin="$CACHE_DIR/go/bin/weed-$SEAWEEDFS_VERSION"
if [ ! -x "$weed_bin" ]; then
  wrap="$CACHE_DIR/go/seaweedfs-wrapper"
  rm -rf "$wrap" && mkdir -p "$wrap"
  cat >"$wrap/go.mod" <<GOMOD
module mlops-local/seaweedfs-wrapper

go 1.26

require $SEAWEEDFS_MODULE $SEAWEEDFS_VERSION

replace $SEAWEEDFS_REPLACE
GOMOD
  commit="${SEAWEEDFS_VERSION##*-}"
  echo "building weed $SEAWEEDFS_VERSION (cold: several minutes)" >&2
  (cd "$wrap" && go build -trimpath \
      -ldflags "-s -w -X $SEAWEEDFS_MODULE/weed/util/version.COMMIT=$commit" \
      -o "$weed_bin.tmp" "$SEAWEEDFS_MODULE/weed")
  mv "$weed_bin.tmp" "$weed_bin"
fi

# shim: the MinIO front-end (standard library and golang.org/x/crypto); keyed by a hash of its sources.
shim_hash="$(cat "$HERE"/shim/go.mod "$HERE"/shim/*.go | sha256sum | cut -c1-16)"
shim_bin="$CACHE_DIR/go/bin/minio-shim-$shim_hash"
if [ ! -x "$shim_bin" ]; then
  (cd "$HERE/shim" && go build -trimpath -ldflags "-s -w" -o "$shim_bin" .)
fi

install -m 0755 "$weed_bin" "$OUT/weed"
install -m 0755 "$shim_bin" "$OUT/minio"
