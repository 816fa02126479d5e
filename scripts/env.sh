# Source this file (". scripts/env.sh") to use the toolchain built by
# offline/toolchain.sh: the local pulumi CLI first on PATH, a local file
# state backend, and no prompts, update checks or plugin downloads (this
# machine cannot reach Pulumi's servers; providers come from the plugin cache,
# where offline/toolchain.sh installed them).
MLOPS_TOOLCHAIN_BIN="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}/toolchain/bin"
case ":$PATH:" in
*":$MLOPS_TOOLCHAIN_BIN:"*) ;;
*) PATH="$MLOPS_TOOLCHAIN_BIN:$PATH" ;;
esac
export PATH MLOPS_TOOLCHAIN_BIN
# Keep a backend chosen by the caller (e.g. CI or tests with their own dir).
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}/state}"
# The passphrase that encrypts the stacks' secrets: the caller's, else the one
# scripts/up.sh made for this machine (never an empty one).
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] \
	&& [ -s "${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}/passphrase" ]; then
	export PULUMI_CONFIG_PASSPHRASE_FILE="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}/passphrase"
fi
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# The file backend needs its directory to exist.
case $PULUMI_BACKEND_URL in
file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;;
esac
