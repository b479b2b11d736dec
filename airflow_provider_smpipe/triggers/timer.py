"""``DelayTrigger``: wait until a moment, then hand back ``echo`` (the wait between retry attempts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class DelayTrigger(BaseTrigger):
    """Fire at ``until`` (epoch seconds; absolute, so a triggerer restart does not restart the wait).

    :param until: when to fire.
    :param echo: returned unchanged in the event.
    """

    def __init__(self, *, until: float, echo: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.until = float(until)
        self.echo = echo

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {"until": self.until, "echo": self.echo}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        await asyncio.sleep(max(0.0, self.until - time.time()))
        yield TriggerEvent({"status": "delay_done", "echo": self.echo})
