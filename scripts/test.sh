#!/usr/bin/env bash
# The project's test command: sets up ./.venv from the lock file, then runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/install_browser.sh  # Debian's chromium + chromedriver for tests/deployment/test_browser.py
exec .venv/bin/python -m pytest "$@"
