#!/usr/bin/env bash
# The project's test command: sets up ./.venv from the lock file, then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
