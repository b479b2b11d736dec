"""The poke-mode sensor rides out a throttling outage longer than botocore's retries, as the
deferred wait does (issue: "The poke-mode sensor dies in an outage")."""

from __future__ import annotations

import threading
from typing import Any

import pendulum

from airflow.sdk import DAG

from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from airflow_provider_smpipe.sensors.pipeline import SageMakerPipelineExecutionSensor
from native_helpers import ROLE, chain_definition, run_dag, task_states, unique, xcom

STEPS = {"A": {"seconds": 2.0}}
OUTAGE = {"default_step_seconds": 0.05, "steps": STEPS, "throttle": {"operations": ["DescribePipelineExecution"], "fraction": 1.0}}
CALM = {"default_step_seconds": 0.05, "steps": STEPS}


def test_a_poke_sensor_outlives_a_throttling_outage(airflow_env: Any, aws_connection: str, capfd: Any) -> None:
    emulator = airflow_env(CALM)
    hook = SageMakerPipelineHook(aws_conn_id="aws_default")
    pipeline = unique("pipe")
    hook.upsert_pipeline(pipeline, chain_definition(["A"]), ROLE)
    arn = hook.start_execution(hook.build_start_request(pipeline))
    emulator.load_scenario(OUTAGE)  # every DescribePipelineExecution is throttled from now on
    throttled: list[int] = []
    stop = threading.Event()

    def end_outage_after_some_pokes() -> None:
        # The outage lasts until the sensor has been refused at least 6 times (3 pokes of 2
        # attempts each), whenever dag.test() gets to start it; then the service recovers.
        while not stop.wait(0.05):
            count = emulator.state()["throttled"].get("DescribePipelineExecution", 0)
            if count >= 6:
                throttled.append(count)
                emulator.load_scenario(CALM)
                return

    outage_over = threading.Thread(target=end_outage_after_some_pokes, daemon=True)
    with DAG(unique("dag"), schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        SageMakerPipelineExecutionSensor(
            task_id="wait",
            execution_arn=arn,
            mode="poke",
            poke_interval=0.2,
            timeout=60,
            deferrable=False,
            # Two attempts per call: botocore gives up within each poke, long before the outage ends.
            botocore_config={"retries": {"mode": "standard", "max_attempts": 2}},
        )
    outage_over.start()
    try:
        run = run_dag(dag)
    finally:
        stop.set()
    assert task_states(run) == {"wait": "success"}
    assert xcom(run, "wait")["execution_status"] == "Succeeded"
    assert throttled and throttled[0] >= 6  # the outage really hit the sensor, longer than botocore's retries
    assert "Transient error watching" in capfd.readouterr().out
