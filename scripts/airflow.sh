#!/usr/bin/env bash
# A real Airflow 3 deployment on this machine, no Docker: the emulator plus api-server, scheduler
# (LocalExecutor), dag-processor and triggerer as separate processes, on the example DAGs.
#
#   bash scripts/airflow.sh up [--port 8080] [--emulator-port 5055] [--timeout 300] [--state-dir DIR]
#   bash scripts/airflow.sh status [--state-dir DIR]
#   bash scripts/airflow.sh down [--state-dir DIR]
#
# State (SQLite DB, logs, PID files) lives in ./.airflow-local unless --state-dir or
# SMPIPE_AIRFLOW_STATE_DIR says otherwise. The implementation is scripts/local_airflow.py.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
# `up` syncs ./.venv with the lock file like the other scripts; `down` and `status` only create it
# when it is missing, so stopping never waits for (or fails on) a package index.
case "${1:-}" in
  up) bash "$REPO/scripts/bootstrap.sh" ;;
  *) [ -x "$REPO/.venv/bin/python" ] || bash "$REPO/scripts/bootstrap.sh" ;;
esac
# Not `cd "$REPO"`: a relative --state-dir means relative to where the command was typed.
exec "$REPO/.venv/bin/python" "$REPO/scripts/local_airflow.py" "$@"
