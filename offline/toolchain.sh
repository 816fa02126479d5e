#!/usr/bin/env bash
# Builds the Pulumi toolchain this project needs, offline: only the Go module
# proxy and PyPI are reachable (no Pulumi download server, no GitHub releases).
#
#   pulumi                       CLI v3.274.1, from github.com/pulumi/pulumi/pkg/v3
#   pulumi-language-python       Python language host (local replacement, see below)
#   pulumi-language-python-exec  } scripts from the github.com/pulumi/pulumi/sdk/v3
#   pulumi-resource-pulumi-python} module (program runner, dynamic providers)
#   pulumi-resource-random       4.21.4 } providers at exactly the versions the
#   pulumi-resource-command      1.2.1  } Python SDK packages pin
#   pulumi-resource-docker       5.1.0  } (see requirements / pulumi-plugin.json)
#
# The proxy refuses ("403 not available") pulumi's own modules for the Python
# language host and the three providers, so those are local replacements whose
# sources live in offline/toolchain/ (our code, no vendored upstream code):
#   - random, docker: thin Terraform bridges (pulumi-terraform-bridge, served)
#     over the upstream Terraform providers (served), with pulumi-random's /
#     pulumi-docker's resource tokens, so their Python SDKs work unchanged.
#   - command: a small provider for command:local:Command / command:local:run.
#   - language host: a Python gRPC server that runs programs through the SDK's
#     own pulumi-language-python-exec script.
#
# Everything goes to ${MLOPS_CACHE_DIR:-~/.cache/mlops-stack}/toolchain, never
# into the checkout: bin/ (CLI, language host; put it on PATH, see env.sh),
# providers/, work/ (wrapper modules), logs/, gopath/ and gocache/ (Go caches).
# Each binary has a stamp recording what it was built from: a rerun rebuilds
# only what is missing or out of date, and with everything present finishes in
# well under a second.
# Providers are then installed into the Pulumi plugin cache ($PULUMI_HOME,
# default ~/.pulumi), which is where the CLI looks for the exact versions the
# SDKs request.
#
# Usage: offline/toolchain.sh            build what is missing, verify, print bin dir
#        offline/toolchain.sh --smoke    also run a real up/destroy smoke test
set -euo pipefail

PULUMI_VERSION=v3.274.1
PY_SDK_VERSION=3.272.0 # the pulumi Python SDK the smoke test installs
RANDOM_VERSION=4.21.4
COMMAND_VERSION=1.2.1
DOCKER_VERSION=5.1.0
# Go modules the local providers build on (all served by the proxy).
BRIDGE=github.com/pulumi/pulumi-terraform-bridge/v3@v3.137.0
TF_RANDOM=github.com/terraform-providers/terraform-provider-random@v1.3.2-0.20260824155315-e1092b0cfc07
# kreuzwerker/terraform-provider-docker declares its module path as
# github.com/terraform-providers/terraform-provider-docker: use it via replace.
TF_DOCKER=github.com/kreuzwerker/terraform-provider-docker@v0.0.0-20260916201441-96d331c98ff4
# pulumi's fork of terraform-plugin-sdk/v2, which the bridge needs for SDKv2 providers.
TF_SDK_FORK=github.com/pulumi/terraform-plugin-sdk/v2@v2.0.0-20260318212141-5525259d096b

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$HERE/toolchain
CACHE=${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}/toolchain
BIN=$CACHE/bin             # pulumi, the language host and its scripts: put on PATH
PROVIDERS=$CACHE/providers # pulumi-resource-*: installed into the plugin cache, not on PATH
WORK=$CACHE/work           # throwaway wrapper modules
LOGS=$CACHE/logs
mkdir -p "$BIN" "$PROVIDERS" "$WORK" "$LOGS"

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
export GOPATH=$CACHE/gopath GOMODCACHE=$CACHE/gopath/pkg/mod GOCACHE=$CACHE/gocache
# -mod=mod: wrapper modules have no go.sum checked in; GOSUMDB=off: the
# checksum database is not reachable here (the proxy is the only source).
export GOFLAGS="-mod=mod -buildvcs=false" GOSUMDB=off GONOSUMDB= GOTOOLCHAIN=local
# The Go module proxy this machine's Go is configured with (`go env GOPROXY`).
GOPROXY="$(go env GOPROXY)"
export GOPROXY
# Static binaries, no C compiler needed (as pulumi's own release builds).
export CGO_ENABLED=0
BUILD_OPTS="go build -p 2 -trimpath -ldflags=-s,-w CGO_ENABLED=$CGO_ENABLED" # part of every stamp

log() { printf '[toolchain] %s\n' "$*" >&2; }
die() { printf '[toolchain] ERROR: %s\n' "$*" >&2; exit 1; }

# stamp_key NAME: what a binary is built from; a change forces a rebuild.
stamp_key() {
	local name=$1 extra=${2:-}
	printf '%s|%s|%s|%s|%s\n' "$name" "$("$GO" env GOVERSION)" "$BUILD_OPTS" "$extra" \
		"$( [ -d "$SRC/$name" ] && (cd "$SRC/$name" && find . -type f | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -c1-16)"
}
dest() { case $1 in pulumi-resource-*) echo "$PROVIDERS" ;; *) echo "$BIN" ;; esac; }
up_to_date() { # up_to_date FILE KEY
	local d; d=$(dest "$1")
	[ -x "$d/$1" ] && [ -f "$d/.stamp-$1" ] && [ "$(cat "$d/.stamp-$1")" = "$2" ]
}
stamp() { echo "$2" >"$(dest "$1")/.stamp-$1"; BUILT="$BUILT $1"; }

# go_build NAME DIR PKG LDFLAGS [TAGS]: one build at a time, -p 2 (2 cores),
# small binaries (-s -w, -trimpath); output in a log named after the binary.
go_build() {
	local name=$1 dir=$2 pkg=$3 ldflags=$4 tags=${5:-} start rc=0 out
	out=$(dest "$name")/$name
	start=$(date +%s)
	log "building $name (log: $LOGS/$name.log)"
	(cd "$dir" && "$GO" build -p 2 -trimpath ${tags:+-tags "$tags"} \
		-ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg") >"$LOGS/$name.log" 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		grep -v '^go: downloading' "$LOGS/$name.log" | tail -n 25 >&2
		die "building $name failed (full log: $LOGS/$name.log)"
	fi
	mv "$out.tmp" "$out"
	log "built $name in $(($(date +%s) - start))s"
}

# --- pulumi CLI ------------------------------------------------------------
# `go install pkg@version` refuses modules with replace directives, so build
# from a wrapper module that requires pkg/v3 and copies the replace it needs
# (pkg/go.mod at v3.274.1: sdk/v3 => ../sdk, which the wrapper's require of
# sdk/v3 at the same version covers, and the clipboard fork).
build_pulumi() {
	local key; key=$(stamp_key pulumi "$PULUMI_VERSION")
	up_to_date pulumi "$key" && return 0
	local dir=$WORK/pulumi
	mkdir -p "$dir"
	cat >"$dir/go.mod" <<-EOF
		module mlops-stack.local/toolchain/pulumi

		go 1.26

		require (
			github.com/pulumi/pulumi/pkg/v3 $PULUMI_VERSION
			github.com/pulumi/pulumi/sdk/v3 $PULUMI_VERSION
		)

		replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
	EOF
	go_build pulumi "$dir" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
		"-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
	stamp pulumi "$key"
}

# --- Python language host and the SDK's helper scripts ----------------------
install_python_host() {
	local key; key=$(stamp_key python-host "$PULUMI_VERSION")
	up_to_date pulumi-language-python "$key" && return 0
	local sdk
	sdk=$(cd "$WORK" && "$GO" mod download -json "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
	[ -n "$sdk" ] && [ -f "$sdk/python/cmd/pulumi-language-python-exec" ] ||
		die "downloading github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION failed"
	# module zips drop the executable bit
	install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$BIN/"
	install -m 0755 "$sdk/python/dist/pulumi-resource-pulumi-python" "$BIN/"
	install -m 0644 "$SRC/python-host/pulumi_language_python_host.py" "$BIN/"
	install -m 0755 "$SRC/python-host/pulumi-language-python" "$BIN/"
	stamp pulumi-language-python "$key"
	log "installed the Python language host"
}

# --- providers ---------------------------------------------------------------
# wrapper DIR: fresh copy of our provider sources (go.mod written by caller).
fresh_wrapper() {
	local name=$1 dir=$WORK/$1
	rm -rf "$dir" && mkdir -p "$dir" && cp -R "$SRC/$name/." "$dir/"
	echo "$dir"
}

build_random() {
	local key; key=$(stamp_key random "$RANDOM_VERSION|$BRIDGE|$TF_RANDOM")
	up_to_date pulumi-resource-random "$key" && return 0
	local dir; dir=$(fresh_wrapper random)
	# The shim must sit under the upstream import path to reach its internal package.
	cat >"$dir/shim/go.mod" <<-EOF
		module github.com/terraform-providers/terraform-provider-random/shim

		go 1.26

		require ${TF_RANDOM%@*} ${TF_RANDOM#*@}
	EOF
	cat >"$dir/go.mod" <<-EOF
		module mlops-stack.local/toolchain/pulumi-resource-random

		go 1.26

		require (
			${BRIDGE%@*} ${BRIDGE#*@}
			github.com/terraform-providers/terraform-provider-random/shim v0.0.0
		)

		replace github.com/terraform-providers/terraform-provider-random/shim => ./shim
	EOF
	go_build pulumi-resource-random "$dir" . "-X main.version=$RANDOM_VERSION"
	stamp pulumi-resource-random "$key"
}

build_docker() {
	local key; key=$(stamp_key docker "$DOCKER_VERSION|$BRIDGE|$TF_DOCKER|$TF_SDK_FORK")
	up_to_date pulumi-resource-docker "$key" && return 0
	local dir; dir=$(fresh_wrapper docker)
	cat >"$dir/shim/go.mod" <<-EOF
		module github.com/terraform-providers/terraform-provider-docker/shim

		go 1.26

		require github.com/terraform-providers/terraform-provider-docker v0.0.0
	EOF
	cat >"$dir/go.mod" <<-EOF
		module mlops-stack.local/toolchain/pulumi-resource-docker

		go 1.26

		require (
			${BRIDGE%@*} ${BRIDGE#*@}
			github.com/terraform-providers/terraform-provider-docker/shim v0.0.0
		)

		replace (
			github.com/hashicorp/terraform-plugin-sdk/v2 => ${TF_SDK_FORK%@*} ${TF_SDK_FORK#*@}
			github.com/terraform-providers/terraform-provider-docker => ${TF_DOCKER%@*} ${TF_DOCKER#*@}
			github.com/terraform-providers/terraform-provider-docker/shim => ./shim
		)
	EOF
	# no_compose: leave out upstream's docker_compose resource (not in the
	# 5.1.0 SDK) and the large docker/compose dependency tree.
	go_build pulumi-resource-docker "$dir" . "-X main.version=$DOCKER_VERSION" no_compose
	stamp pulumi-resource-docker "$key"
}

build_command() {
	local key; key=$(stamp_key command "$COMMAND_VERSION|$PULUMI_VERSION")
	up_to_date pulumi-resource-command "$key" && return 0
	local dir; dir=$(fresh_wrapper command)
	# Same sdk/v3 as the CLI: its compiled packages are reused from the build cache.
	cat >"$dir/go.mod" <<-EOF
		module mlops-stack.local/toolchain/pulumi-resource-command

		go 1.26

		require github.com/pulumi/pulumi/sdk/v3 $PULUMI_VERSION
	EOF
	go_build pulumi-resource-command "$dir" . "-X main.version=$COMMAND_VERSION"
	stamp pulumi-resource-command "$key"
}

# --- plugin cache --------------------------------------------------------------
# The SDKs request exact versions (pulumi-plugin.json). The CLI would also take
# any pulumi-resource-* found on $PATH, whatever its version, but warns about
# each such "ambient" plugin on every run; the plugin cache is matched by exact
# version and is silent. So providers are installed there, and the bin dir is
# only for the CLI, the language host and its scripts. Idempotent: reinstalls
# only when the cached copy differs from the freshly built one.
install_plugin() { # install_plugin NAME VERSION
	local name=$1 version=$2 home=${PULUMI_HOME:-$HOME/.pulumi}
	local file=$PROVIDERS/pulumi-resource-$name
	local cached=$home/plugins/resource-$name-v$version/pulumi-resource-$name
	if [ -f "$cached" ] && cmp -s "$file" "$cached"; then return 0; fi
	"$BIN/pulumi" plugin install resource "$name" "$version" --file "$file" --reinstall \
		>"$LOGS/plugin-install-$name.log" 2>&1 ||
		{ cat "$LOGS/plugin-install-$name.log" >&2; die "installing plugin $name $version into $home failed"; }
	log "installed plugin resource-$name-v$version into $home/plugins"
}

# --- verification ----------------------------------------------------------------
verify() {
	local v
	v=$("$BIN/pulumi" version) || die "pulumi does not run"
	[ "$v" = "$PULUMI_VERSION" ] || die "pulumi version is '$v', expected $PULUMI_VERSION"
	for p in random:$RANDOM_VERSION command:$COMMAND_VERSION docker:$DOCKER_VERSION; do
		v=$("$PROVIDERS/pulumi-resource-${p%%:*}" --version 2>/dev/null | tail -n 1) ||
			die "pulumi-resource-${p%%:*} does not run"
		[ "$v" = "${p#*:}" ] || die "pulumi-resource-${p%%:*} reports version '$v', expected ${p#*:}"
	done
	log "verified: pulumi $PULUMI_VERSION, random $RANDOM_VERSION, command $COMMAND_VERSION, docker $DOCKER_VERSION"
}

# handshake PLUGIN: does the plugin start and announce its gRPC port (first
# line on stdout), as the CLI expects? The engine address given is a dummy.
handshake() {
	local out pid ok=1
	out=$(mktemp)
	"$1" 127.0.0.1:1 >"$out" 2>/dev/null &
	pid=$!
	for _ in $(seq 1 60); do
		if grep -qE '^[0-9]+$' "$out"; then ok=0 && break; fi
		sleep 0.5
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$out"
	return "$ok"
}

# A real deployment with the local file backend: a Python project in a
# virtualenv with the pinned SDKs, creating a RandomPassword and a local
# Command, then destroying them. Docker resources are created only when a
# Docker engine answers (a network with a unique name, removed by destroy);
# otherwise the docker provider is only started and checked.
smoke_test() {
	local tmp venv rc=0 docker_res=False
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/pulumi-smoke.XXXXXX")
	venv=$CACHE/smoke-venv
	if ! "$venv/bin/python" -c "import pulumi, pulumi_random, pulumi_command, pulumi_docker" 2>/dev/null; then
		log "creating the smoke-test virtualenv ($venv)"
		python3 -m venv "$venv" && "$venv/bin/pip" install -q "pulumi==$PY_SDK_VERSION" \
			"pulumi-command==$COMMAND_VERSION" "pulumi-random==$RANDOM_VERSION" "pulumi-docker==$DOCKER_VERSION" ||
			die "smoke test: pip install of the Pulumi SDKs failed"
	fi
	if command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1; then docker_res=True; fi
	cat >"$tmp/Pulumi.yaml" <<-EOF
		name: toolchain-smoke
		runtime:
		  name: python
		  options:
		    virtualenv: $venv
	EOF
	cat >"$tmp/__main__.py" <<-EOF
		import pulumi
		import pulumi_command as command
		import pulumi_random as random

		pw = random.RandomPassword("pw", length=24, special=False)
		cmd = command.local.Command("echo", create="echo hello-\$NAME", environment={"NAME": "smoke"})
		pulumi.export("stdout", cmd.stdout)
		pulumi.export("pw_length", pw.result.apply(len))
		if $docker_res:
		    import pulumi_docker as docker
		    net = docker.Network("net", name="toolchain-smoke-" + pulumi.get_stack())
		    pulumi.export("network", net.name)
	EOF
	(
		cd "$tmp"
		export PATH="$BIN:$PATH" PULUMI_BACKEND_URL="file://$tmp/state" PULUMI_CONFIG_PASSPHRASE="" \
			PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
		mkdir -p state
		stack=s$$
		pulumi stack init "$stack" >/dev/null 2>&1
		pulumi up --yes --skip-preview >up.log 2>&1 || { cat up.log >&2; exit 1; }
		[ "$(pulumi stack output stdout)" = hello-smoke ] || { echo "unexpected command output" >&2; exit 1; }
		[ "$(pulumi stack output --show-secrets pw_length)" = 24 ] || { echo "unexpected password length" >&2; exit 1; }
		pulumi destroy --yes --skip-preview >destroy.log 2>&1 || { cat destroy.log >&2; exit 1; }
		pulumi stack rm --yes "$stack" >/dev/null 2>&1
	) || rc=$?
	if [ "$rc" != 0 ]; then
		die "smoke test failed (project left in $tmp)"
	fi
	rm -rf "$tmp"
	# Without an engine the docker provider still has to start and hand over its port.
	if [ "$docker_res" = False ]; then
		handshake "$PROVIDERS/pulumi-resource-docker" || die "smoke test: pulumi-resource-docker did not start"
	fi
	log "smoke test passed (random, command$([ "$docker_res" = True ] && echo ", docker network"))"
}

# --- main ----------------------------------------------------------------------
SMOKE=false
for arg in "$@"; do
	case $arg in
	--smoke) SMOKE=true ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) die "unknown argument: $arg" ;;
	esac
done

command -v "$GO" >/dev/null || die "go not found (set GO=/path/to/go)"
BUILT=""
build_pulumi
install_python_host
build_command
build_random
build_docker
for p in random:$RANDOM_VERSION command:$COMMAND_VERSION docker:$DOCKER_VERSION; do
	install_plugin "${p%%:*}" "${p#*:}"
done
if [ -n "$BUILT" ]; then verify; fi
if $SMOKE; then smoke_test; fi
echo "$BIN"
