#!/usr/bin/env bash
# actionlint (the linter of GitHub Actions workflows) for tests/unit/test_workflows.py
# and scripts/test.sh: built from its Go module with the Go toolchain the project
# already uses for offline/toolchain.sh (no GitHub release can be downloaded here).
#
# Everything goes under ${MLOPS_CACHE_DIR:-~/.cache/mlops-stack}/actionlint, never
# into the checkout: bin/actionlint (where the tests look for it), and gopath/ and
# gocache/ of its own (so a cold build is a cold build, and removing that folder
# removes all of it). A stamp records what the binary was built from: a rerun with
# the binary present and up to date only checks that it runs (well under a second).
#
# Usage: scripts/actionlint.sh     build if missing or out of date; print the binary's path
# Exits non-zero (with the build log's tail) when it cannot build.
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12
PKG=github.com/rhysd/actionlint/cmd/actionlint

CACHE=${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}/actionlint
BIN=$CACHE/bin
OUT=$BIN/actionlint
STAMP=$BIN/.stamp-actionlint
LOG=$CACHE/build.log

log() { printf '[actionlint] %s\n' "$*" >&2; }
die() { printf '[actionlint] ERROR: %s\n' "$*" >&2; exit 1; }

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$GO" ] || die "no Go toolchain (looked for 'go' on PATH and /usr/local/go/bin/go; set GO=)"

# Go caches of its own; the module proxy this machine's Go is configured with; no
# checksum database (not reachable here, as in offline/toolchain.sh); no toolchain
# download; a static binary; GOFLAGS cleared (-mod=... is refused by `go install pkg@version`).
export GOPATH=$CACHE/gopath GOMODCACHE=$CACHE/gopath/pkg/mod GOCACHE=$CACHE/gocache
export GOSUMDB=off GONOSUMDB='' GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=''
GOPROXY="$("$GO" env GOPROXY)"
export GOPROXY

key="$ACTIONLINT_VERSION|$("$GO" env GOVERSION)|-trimpath -ldflags=-s,-w CGO_ENABLED=0"
if [ -x "$OUT" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$key" ] && "$OUT" -version >/dev/null 2>&1; then
	echo "$OUT"
	exit 0
fi

mkdir -p "$BIN"
tmp=$(mktemp -d "$CACHE/gobin.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
log "building $PKG@$ACTIONLINT_VERSION with $("$GO" env GOVERSION) (log: $LOG)"
# go install puts the binary in GOBIN: a temporary one, moved into place only once built.
if ! GOBIN=$tmp "$GO" install -trimpath -ldflags "-s -w" "$PKG@$ACTIONLINT_VERSION" >"$LOG" 2>&1; then
	grep -v '^go: downloading' "$LOG" | tail -n 25 >&2
	die "building $PKG@$ACTIONLINT_VERSION failed (full log: $LOG)"
fi
version=$("$tmp/actionlint" -version 2>/dev/null | head -n 1) || die "the built actionlint does not run"
[ "$version" = "$ACTIONLINT_VERSION" ] || die "the built actionlint reports '$version', expected $ACTIONLINT_VERSION"
mv -f "$tmp/actionlint" "$OUT"
echo "$key" >"$STAMP"
log "built actionlint $version in $(($(date +%s) - start))s"
echo "$OUT"
