#!/usr/bin/env bash
# Build statsd_exporter (github.com/prometheus/statsd_exporter, Apache-2.0) on the host:
# static, cached under $CACHE_DIR/go/bin by version. Usage: build-bin.sh OUT_DIR.
set -euo pipefail

OUT="${1:?usage: build-bin.sh OUT_DIR}"
CACHE_DIR="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}"
MODULE=github.com/prometheus/statsd_exporter
VERSION=v0.31.0

export GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/cache"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
mkdir -p "$GOMODCACHE" "$GOCACHE" "$CACHE_DIR/go/bin" "$OUT"

bin="$CACHE_DIR/go/bin/statsd_exporter-$VERSION"
if [ ! -x "$bin" ]; then
  echo "building statsd_exporter $VERSION (cold: about 2 minutes)" >&2
  GOBIN="$CACHE_DIR/go/bin/statsd_exporter-build" go install -trimpath \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION#v}" "$MODULE@$VERSION"
  mv "$CACHE_DIR/go/bin/statsd_exporter-build/statsd_exporter" "$bin.tmp" && mv "$bin.tmp" "$bin"
  rmdir "$CACHE_DIR/go/bin/statsd_exporter-build"
fi
install -m 0755 "$bin" "$OUT/statsd_exporter"
