"""A deferrable-style client (aiobotocore, as Airflow triggers use) polls the emulator concurrently
with boto3 clients in threads, and sees the genuine state transitions."""

from __future__ import annotations

import asyncio
from typing import Any

import aiobotocore.session as aiobotocore_session  # a hard dependency (amazon provider's [aiobotocore] extra)
from emulator_helpers import Pipelines, definition_with, training_step, validated


async def test_aiobotocore_and_boto3_poll_concurrently(pipelines: Pipelines, emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.3})
    name = pipelines.create(definition_with([training_step("A"), training_step("B", depends_on=["A"]), training_step("C", depends_on=["A"])]), "async")
    session = aiobotocore_session.get_session()
    seen_async: list[str] = []
    seen_threads: list[list[str]] = [[], [], []]

    async with session.create_client(
        "sagemaker",
        region_name="us-east-1",
        endpoint_url=emulator.endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    ) as client:
        validated(client)
        await client.list_pipeline_executions(PipelineName=name)  # connected and ready before the start
        emulator.reset()
        arn = pipelines.start(name)

        async def poll_async() -> None:
            while True:
                described = await client.describe_pipeline_execution(PipelineExecutionArn=arn)
                steps = await client.list_pipeline_execution_steps(PipelineExecutionArn=arn)
                status = described["PipelineExecutionStatus"]
                seen_async.append(status + ":" + ",".join(sorted(f"{s['StepName']}={s['StepStatus']}" for s in steps["PipelineExecutionSteps"])))
                if status in ("Succeeded", "Failed", "Stopped"):
                    return
                await asyncio.sleep(0.02)

        def poll_sync(into: list[str]) -> None:
            while True:
                status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
                into.append(status)
                if status in ("Succeeded", "Failed", "Stopped"):
                    return
                sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)

        await asyncio.wait_for(asyncio.gather(poll_async(), *(asyncio.to_thread(poll_sync, s) for s in seen_threads)), timeout=20)

    assert seen_async[-1].startswith("Succeeded:") and "A=Succeeded,B=Succeeded,C=Succeeded" in seen_async[-1]
    assert any(s.startswith("Executing:") and "A=Executing" in s for s in seen_async)  # genuine transitions
    assert any("B=Executing" in s and "C=Executing" in s for s in seen_async)  # B and C ran concurrently
    for statuses in seen_threads:
        assert statuses[0] == "Executing" and statuses[-1] == "Succeeded"
    calls = emulator.state()["calls"]
    assert calls["DescribePipelineExecution"] == len(seen_async) + sum(len(s) for s in seen_threads)
