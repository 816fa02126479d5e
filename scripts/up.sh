#!/usr/bin/env bash
# Bring a stack up on this machine, from nothing (README, "Quick start"):
#   scripts/up.sh            the dev stack (Pulumi.dev.yaml: the official images)
#   scripts/up.sh e2e        the stack that runs offline (Pulumi.e2e.yaml: local images)
# State goes to a local file backend (no Pulumi account); secrets are encrypted
# with a passphrase kept in a file of this machine's, made on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
stack="${1:-dev}"
[ -f "Pulumi.${stack}.yaml" ] || { echo "no stack config Pulumi.${stack}.yaml" >&2; exit 2; }

scripts/python-env.sh
scripts/docker-engine.sh
if ! command -v pulumi >/dev/null 2>&1; then
  offline/toolchain.sh   # only on machines that cannot install Pulumi the usual way
fi
if [ "$stack" = "e2e" ]; then
  offline/build-images.sh
fi
# One line, not a pull error per service, when the engine cannot get the stack's images.
.venv/bin/python scripts/preflight.py "$stack"
cache="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] \
   && [ ! -s "$cache/passphrase" ]; then
  mkdir -p "$cache"
  (umask 077; .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(32))" > "$cache/passphrase")
  echo "made a passphrase for this machine's stacks: $cache/passphrase (keep it)"
fi
# shellcheck source=scripts/env.sh
source scripts/env.sh   # PATH, backend, and that passphrase file
pulumi stack select --create "$stack" --non-interactive
# Generated passwords derive from this seed, so they outlive `destroy` with the retained volumes.
if ! pulumi config get secretSeed --stack "$stack" >/dev/null 2>&1; then
  .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(32))" \
    | pulumi config set --secret secretSeed --stack "$stack"
fi
pulumi up --yes --stack "$stack" "${@:2}"
echo
echo "Where to log in: pulumi stack output --stack $stack  (add --show-secrets for the passwords)"
