"""What every trigger of this provider shares: the AWS connection settings (serialised with the
trigger's own arguments, so a restarted triggerer rebuilds it exactly) and the shared client."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger

from airflow_provider_smpipe.hooks.pipeline import service_hook
from airflow_provider_smpipe.triggers.shared_client import client_key, shared_client

AWS_FIELDS = ("aws_conn_id", "region_name", "verify", "botocore_config")


class AwsTrigger(BaseTrigger):
    """Base class: subclasses list their own constructor arguments in :attr:`own_fields`.

    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region (defaults to the connection's).
    :param verify: TLS verification, as for botocore.
    :param botocore_config: botocore ``Config`` keyword arguments.
    """

    own_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs = {name: getattr(self, name) for name in (*self.own_fields, *AWS_FIELDS)}
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def aws_settings(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in AWS_FIELDS}

    def client(self, service: str = "sagemaker") -> Any:
        """Borrow the event loop's shared aiobotocore client for ``service`` (see ``shared_client``)."""
        hook = service_hook(service, aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify, config=self.botocore_config)
        key = client_key(service=service, conn=self.aws_conn_id, region=self.region_name, verify=self.verify, config=self.botocore_config)
        return shared_client(key, hook.get_async_conn)


#: Task states after which the work a killed trigger waited on is nobody's anymore: the user marked
#: the task failed (or it was removed). A cleared task (state back to none, then scheduled, queued,
#: running, deferred) runs again and its new try takes the work over; a task marked success keeps it
#: running too (the user said it is fine as it is).
ABANDONED_STATES = frozenset({"failed", "upstream_failed", "removed", "skipped"})


async def abandoned_by_user(trigger: BaseTrigger) -> bool:
    """Whether the user's action that killed ``trigger`` leaves its work without a task to own it
    (marked failed), as opposed to a Clear, whose new try re-attaches to the same work.

    Airflow calls ``on_kill`` for mark-failed, mark-success *and* Clear alike; stopping the work on a
    Clear would stop what the new try just re-attached to. The task's current state tells them
    apart. When it cannot be read (an Airflow without ``get_task_states`` in the triggerer), the
    work is stopped, as before this check existed.
    """
    ti = getattr(trigger, "task_instance", None)
    if ti is None:
        return True
    try:
        from asgiref.sync import sync_to_async

        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        map_index = getattr(ti, "map_index", -1)
        answer = await sync_to_async(RuntimeTaskInstance.get_task_states)(
            dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=map_index if map_index is not None and map_index >= 0 else None
        )
        states = (answer or {}).get(ti.run_id, {})
        key = ti.task_id if map_index is None or map_index < 0 else f"{ti.task_id}_{map_index}"
        state = states.get(key)
    except Exception:  # noqa: BLE001 - unknown: keep the old behaviour (stop)
        trigger.log.warning("Could not read the state of task %s; treating the kill as final", getattr(ti, "task_id", "?"), exc_info=True)
        return True
    state = getattr(state, "value", state)
    trigger.log.info("Task %s is %s after the user's action", ti.task_id, state)
    return state is not None and str(state) in ABANDONED_STATES


def task_abandoned(ti: Any, log: Any) -> bool:
    """:func:`abandoned_by_user` for a task's own ``on_kill`` (a synchronous wait in the worker)."""
    try:
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        map_index = getattr(ti, "map_index", -1)
        mapped = map_index is not None and map_index >= 0
        answer = RuntimeTaskInstance.get_task_states(dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], map_index=map_index if mapped else None)
        state = (answer or {}).get(ti.run_id, {}).get(f"{ti.task_id}_{map_index}" if mapped else ti.task_id)
    except Exception:  # noqa: BLE001 - unknown: keep the old behaviour (stop)
        log.warning("Could not read the state of task %s; treating the kill as final", getattr(ti, "task_id", "?"), exc_info=True)
        return True
    state = getattr(state, "value", state)
    log.info("Task %s is %s after the user's action", ti.task_id, state)
    return state is not None and str(state) in ABANDONED_STATES


def wait_inline(trigger: BaseTrigger) -> dict[str, Any]:
    """Run ``trigger`` in the calling (worker) thread and return its first event's payload, so a
    synchronous wait behaves exactly like a deferred one."""

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise RuntimeError(f"{type(trigger).__name__} ended without an event")

    return asyncio.run(first_event())
