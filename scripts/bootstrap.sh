#!/usr/bin/env bash
# Creates ./.venv (if missing) and installs the provider with every extra from the pinned lock file.
# Needs only python3 (>= 3.11) and access to PyPI. Safe to run again: it re-syncs the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# uv resolves and installs an Airflow environment in seconds where pip takes minutes.
.venv/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.4"
.venv/bin/python -m uv pip install --quiet --python .venv/bin/python -r requirements/lock.txt
.venv/bin/python -m uv pip install --quiet --python .venv/bin/python --no-deps -e .
