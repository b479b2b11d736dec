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


def wait_inline(trigger: BaseTrigger) -> dict[str, Any]:
    """Run ``trigger`` in the calling (worker) thread and return its first event's payload, so a
    synchronous wait behaves exactly like a deferred one."""

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise RuntimeError(f"{type(trigger).__name__} ended without an event")

    return asyncio.run(first_event())
