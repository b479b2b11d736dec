"""The README's run command: the demo really runs examples 1, 3 and 4 with Airflow on the emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_demo_runs_the_examples_and_reports_success() -> None:
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "demo.py")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for dag in ("smpipe_retrain_abalone", "smpipe_selective_rerun", "smpipe_abalone_translated"):
        assert f"■ {dag}: success" in out
    assert "step  smpipe-example-abalone/" in out and "TrainAbaloneModel: Succeeded" in out  # step progress
    assert "task  smpipe_abalone_translated.CheckMSEAbaloneEvaluation: success" in out  # task progress
    assert "DAG " in out and "DURATION" in out and "All 3 example runs succeeded." in out  # the summary table
    assert "with scenario dags_examples/emulator_scenario.json" in out  # the scenario docker-compose.yaml uses
