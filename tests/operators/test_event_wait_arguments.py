"""``wait_via="events"`` on the operators and sensors: wrong arguments fail when the DAG is parsed,
naming the argument; right ones give the event-fed trigger, the default stays the polling one."""

from __future__ import annotations

import pytest

from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator, SageMakerPipelineStopOperator
from airflow_provider_smpipe.sensors.pipeline import SageMakerPipelineExecutionSensor, SageMakerPipelineStepSensor
from airflow_provider_smpipe.triggers.execution_events import SageMakerPipelineExecutionEventTrigger
from airflow_provider_smpipe.triggers.pipeline_execution import SageMakerPipelineExecutionTrigger

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/pipeline-events"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/abc"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"wait_via": "eventbridge", "deferrable": True}, "wait_via must be one of 'polling', 'events', got 'eventbridge'"),
        ({"wait_via": "events", "deferrable": True}, "wait_via='events' needs events_queue_url"),
        ({"wait_via": "events", "events_queue_url": QUEUE, "deferrable": False}, "set deferrable=True"),
    ],
)
def test_wrong_wait_arguments_fail_when_the_dag_is_parsed(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SageMakerPipelineStartOperator(task_id="start", pipeline_name="p", **arguments)
    with pytest.raises(ValueError, match=message):
        SageMakerPipelineExecutionSensor(task_id="wait", execution_arn=ARN, **arguments)
    with pytest.raises(ValueError, match=message):
        SageMakerPipelineStepSensor(task_id="step", execution_arn=ARN, step_name="Train", **arguments)


def test_an_operator_that_does_not_wait_does_not_need_to_defer() -> None:
    operator = SageMakerPipelineStartOperator(
        task_id="start", pipeline_name="p", wait_via="events", events_queue_url=QUEUE, deferrable=False, wait_for_completion=False
    )
    assert operator.wait_via == "events"


def test_the_wait_trigger_follows_wait_via() -> None:
    evented = SageMakerPipelineStopOperator(
        task_id="stop", execution_arn=ARN, wait_via="events", events_queue_url=QUEUE, deferrable=True, safety_poll_interval=120
    )._trigger(ARN, stop_on_kill=False)
    assert isinstance(evented, SageMakerPipelineExecutionEventTrigger)
    assert evented.events_queue_url == QUEUE and evented.safety_poll_interval == 120
    polled = SageMakerPipelineStartOperator(task_id="start", pipeline_name="p", deferrable=True)._trigger(ARN, stop_on_kill=True)
    assert type(polled) is SageMakerPipelineExecutionTrigger
    step = SageMakerPipelineStepSensor(task_id="s", execution_arn=ARN, step_name="Train", wait_via="events", events_queue_url=QUEUE, deferrable=True)
    step_trigger = step._trigger(ARN, None)
    assert isinstance(step_trigger, SageMakerPipelineExecutionEventTrigger) and step_trigger.step_name == "Train"
    assert "events_queue_url" in SageMakerPipelineStartOperator.template_fields and "events_queue_url" in SageMakerPipelineStepSensor.template_fields
