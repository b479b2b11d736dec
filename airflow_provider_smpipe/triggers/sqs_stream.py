"""Reading SageMaker pipeline events from an SQS queue, for the event triggers.

Two ways to read, one message rule:

* **Shared** (Airflow >= 3.3): every event trigger on the same queue (same connection and region)
  on one triggerer shares one receive loop — :class:`SqsEventProducer`, an ack-mode
  ``SharedStreamProducer``. Each message is broadcast to every trigger of the group; it is deleted
  only once every trigger has moved past it and the trigger events derived from it were persisted by
  Airflow (``advance``). A message nobody wanted resolves cleanly and is deleted too: the queue is
  the group's. A message whose delivery failed (ack timeout, a trigger that fell behind) is made
  visible again at once, for redelivery.
* **Alone** (Airflow < 3.3, or a trigger that opts out): :class:`SqsReader` receives for one trigger.
  It deletes the messages it consumed (a matching event once the triggerer took it; a malformed or
  foreign message) and makes the others visible again at once, because another trigger reading the
  same queue may want them. Those expire with the queue's retention period.

Airflow's own ``common.messaging`` SQS trigger is not used: it deletes every message it receives
(losing the events meant for a sibling trigger), it yields raw messages, and it has no ack mode.
SQS delivers each message to one receiver at a time, so a queue read by triggers on *several*
triggerers splits its messages between them: give such watchers a queue each (README, "Events").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from airflow_provider_smpipe.events.shapes import NotAPipelineEvent, PipelineEvent, parse_message

log = logging.getLogger(__name__)

#: SQS's limits: at most 10 messages per receive/delete batch, long polls of at most 20 s.
MAX_BATCH = 10
MAX_WAIT_SECONDS = 20


@dataclass(frozen=True)
class QueuedEvent:
    """One SQS message, read: the event, or why it is not one (``event is None``)."""

    message_id: str
    receipt_handle: str
    event: PipelineEvent | None
    problem: str | None = None


def read_message(message: dict[str, Any]) -> QueuedEvent:
    message_id = str(message.get("MessageId", ""))
    receipt = str(message.get("ReceiptHandle", ""))
    try:
        return QueuedEvent(message_id, receipt, parse_message(message.get("Body")))
    except NotAPipelineEvent as exc:
        return QueuedEvent(message_id, receipt, None, str(exc))


async def receive(client: Any, queue_url: str, *, wait_seconds: int, visibility_timeout: int | None) -> list[QueuedEvent]:
    """One long-poll receive (up to 10 messages)."""
    arguments: dict[str, Any] = {"QueueUrl": queue_url, "MaxNumberOfMessages": MAX_BATCH, "WaitTimeSeconds": max(0, min(wait_seconds, MAX_WAIT_SECONDS))}
    if visibility_timeout is not None:
        arguments["VisibilityTimeout"] = visibility_timeout
    answer = await client.receive_message(**arguments)
    return [read_message(message) for message in answer.get("Messages", [])]


async def delete(client: Any, queue_url: str, receipts: Sequence[str]) -> None:
    """Delete messages (batches of 10); a failed entry is logged: the message comes back and is
    deduplicated by whoever reads it again."""
    for start in range(0, len(receipts), MAX_BATCH):
        entries = [{"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(receipts[start : start + MAX_BATCH])]
        answer = await client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        for failed in answer.get("Failed", []):
            log.warning("Could not delete a message from %s: %s", queue_url, failed.get("Message") or failed.get("Code"))


async def release(client: Any, queue_url: str, receipts: Sequence[str]) -> None:
    """Make messages visible again now (for another reader, or for redelivery)."""
    for start in range(0, len(receipts), MAX_BATCH):
        entries = [{"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": 0} for i, r in enumerate(receipts[start : start + MAX_BATCH])]
        answer = await client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        for failed in answer.get("Failed", []):
            log.warning("Could not release a message of %s: %s", queue_url, failed.get("Message") or failed.get("Code"))


#: SQS's error codes for a queue that does not exist (query and JSON protocols).
QUEUE_MISSING_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


def queue_missing(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and str(exc.response.get("Error", {}).get("Code", "")) in QUEUE_MISSING_CODES


async def receive_forever(
    client: Any, queue_url: str, *, wait_seconds: int, visibility_timeout: int | None, is_retriable: Callable[[BaseException], bool], max_backoff: float = 60.0
) -> AsyncIterator[QueuedEvent]:
    """Receive without end; transient errors back off and retry, others propagate.

    A missing queue is waited for too (a minute apart at most, with a warning each time): a
    watcher deployed before ``smpipe events setup`` ran starts reading once the queue exists,
    instead of failing in the triggerer."""
    failures = 0
    while True:
        try:
            batch = await receive(client, queue_url, wait_seconds=wait_seconds, visibility_timeout=visibility_timeout)
        except Exception as exc:  # noqa: BLE001 - classify: retry or end the stream
            missing = queue_missing(exc)
            if not (missing or is_retriable(exc)):
                raise
            failures += 1
            backoff = min(2.0 ** min(failures, 8), max_backoff)
            if missing:
                log.warning("SQS queue %s does not exist (yet?): create it with `smpipe events setup`; looking again in %.0fs", queue_url, backoff)
            else:
                log.warning("Transient error reading %s (%s); retrying in %.0fs", queue_url, exc, backoff)
            await asyncio.sleep(backoff)
            continue
        failures = 0
        for item in batch:
            yield item


def _shared_stream_api() -> Any:
    """``airflow.triggers.shared_stream`` (Airflow >= 3.3), or ``None`` on older Airflow."""
    try:
        from airflow.triggers import shared_stream
    except ImportError:
        return None
    return shared_stream


SHARED_STREAM = _shared_stream_api()


def make_producer(open_client: Callable[[], Any], queue_url: str, *, wait_seconds: int, visibility_timeout: int | None, is_retriable: Callable[[BaseException], bool]) -> Any:
    """An ack-mode producer for one queue (Airflow >= 3.3 only)."""
    if SHARED_STREAM is None:  # pragma: no cover - only called by Airflow >= 3.3's triggerer
        raise RuntimeError("shared streams need Airflow 3.3 or later")

    class SqsEventProducer(SHARED_STREAM.SharedStreamProducer):  # type: ignore[misc, name-defined]
        """Owns the queue's receive loop for a shared-stream group; deletes what every trigger is done with."""

        def __init__(self) -> None:
            self._client_context: Any = None
            self._client: Any = None

        async def open_stream(self) -> AsyncIterator[tuple[QueuedEvent, str]]:
            self._client_context = open_client()
            self._client = await self._client_context.__aenter__()
            async for item in receive_forever(
                self._client, queue_url, wait_seconds=wait_seconds, visibility_timeout=visibility_timeout, is_retriable=is_retriable
            ):
                yield item, item.receipt_handle

        async def advance(self, batch: Sequence[Any]) -> None:
            done = [item.broker_payload for item in batch if item.outcome.is_clean or item.outcome.rejected]
            again = [item.broker_payload for item in batch if not (item.outcome.is_clean or item.outcome.rejected)]
            if done:
                await delete(self._client, queue_url, done)
            if again:
                await release(self._client, queue_url, again)

        async def aclose(self) -> None:
            if self._client_context is not None:
                await self._client_context.__aexit__(None, None, None)

    return SqsEventProducer()
