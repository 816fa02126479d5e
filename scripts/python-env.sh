#!/usr/bin/env bash
# Create (or reuse) the project's virtualenv at .venv, the one Pulumi.yaml names,
# and install the pinned requirements. Cheap on rerun: pip skips what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
