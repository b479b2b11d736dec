"""Run event triggers the way Airflow's triggerer does, in this process.

:class:`SharedRunner` drives triggers through Airflow's own ``SharedStreamManager`` (the triggerer's
shared-stream machinery, Airflow >= 3.3), exactly as ``TriggerRunner.run_trigger`` does: subscribe,
iterate ``filter_shared_stream``, bind each fired event to the raw event it came from, and confirm
its persistence — at once, or when the test says (to check that nothing is deleted before Airflow
recorded it). :func:`run_alone` runs ``run()`` as the triggerer does without a shared stream.
The real-process version of all this is tests/deployment/test_event_watchers.py.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any



class SharedRunner:
    """Tests that use it carry ``@pytest.mark.shared_streams`` (the oldest-Airflow run deselects them)."""

    def __init__(self, *, confirm: bool = True, ack_timeout: float = 300.0) -> None:
        from airflow.triggers.shared_stream import SharedStreamManager

        self.manager = SharedStreamManager(ack_timeout=ack_timeout)
        self.confirm = confirm
        self.fired: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.unconfirmed: list[int] = []
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def start(self, trigger_id: int, trigger: Any) -> None:
        self.tasks[trigger_id] = asyncio.ensure_future(self._run(trigger_id, trigger))

    async def _run(self, trigger_id: int, trigger: Any) -> None:
        key = trigger.shared_stream_key()
        assert key is not None, "the trigger did not opt into a shared stream"
        stream = self.manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
        try:
            async for event in trigger.filter_shared_stream(stream):
                seq = self.manager.bind_pending_event(trigger_id=trigger_id, key=key)
                self.fired[trigger_id].append(event.payload)
                if seq is not None:
                    self.unconfirmed.append(seq)
                if self.confirm:
                    self.persisted()
        finally:
            await self.manager.unsubscribe(trigger_id, key)

    def persisted(self) -> None:
        """What the supervisor does once the fired events are stored in the metadata database."""
        self.manager.confirm_persisted(list(self.unconfirmed))
        self.unconfirmed.clear()

    async def until(self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            for task in self.tasks.values():
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; fired: {dict(self.fired)}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        for task in self.tasks.values():
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self.manager.stop_all()


async def run_alone(trigger: Any, fired: list[dict[str, Any]]) -> None:
    """The triggerer's loop for a trigger without a shared stream (until cancelled)."""
    async for event in trigger.run():
        fired.append(event.payload)


async def alone_until(trigger: Any, done: Callable[[list[dict[str, Any]]], bool], *, timeout: float = 30.0, before: Callable[[], Any] | None = None) -> list[dict[str, Any]]:
    """Run ``trigger`` alone until ``done(fired)`` (or ``timeout``); then cancel it as the triggerer
    does. ``before`` runs once the trigger is running (e.g. to send the messages it should read)."""
    fired: list[dict[str, Any]] = []
    task = asyncio.ensure_future(run_alone(trigger, fired))
    try:
        if before is not None:
            await before()
        deadline = asyncio.get_running_loop().time() + timeout
        while not done(fired) and asyncio.get_running_loop().time() < deadline:
            if task.done():
                task.result()  # the trigger ended: raise what ended it
                raise AssertionError(f"the trigger ended by itself; fired: {fired}")
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return fired
