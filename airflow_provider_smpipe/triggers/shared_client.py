"""One aiobotocore SageMaker client per event loop and connection, shared by every trigger.

The triggerer runs all triggers in one event loop. Each aiobotocore client carries its own
botocore service model, endpoint resolver and connection pool, so a client per waiting task makes
memory grow with the number of waits. aiobotocore clients are safe for concurrent use, so triggers
with the same connection settings borrow one client (reference counted: the last user closes it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Entry:
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    context: Any = None
    client: Any = None
    error: BaseException | None = None
    users: int = 0


_clients: dict[tuple[int, str], _Entry] = {}


def client_key(**settings: Any) -> str:
    return json.dumps(settings, sort_keys=True, default=str)


@asynccontextmanager
async def shared_client(key: str, open_context: Callable[[], Any]) -> AsyncIterator[Any]:
    """Borrow the client for ``key`` in the running loop, creating it with ``open_context()`` (an
    awaitable returning aiobotocore's client context manager) if nobody holds one."""
    slot = (id(asyncio.get_running_loop()), key)
    entry = _clients.get(slot)
    if entry is None:
        entry = _clients[slot] = _Entry()
        try:
            entry.context = await open_context()
            entry.client = await entry.context.__aenter__()
        except BaseException as exc:
            entry.error = exc
            _clients.pop(slot, None)
            entry.ready.set()
            raise
        entry.ready.set()
    else:
        await entry.ready.wait()
        if entry.error is not None:
            raise entry.error
    entry.users += 1
    try:
        yield entry.client
    finally:
        entry.users -= 1
        if entry.users == 0 and _clients.get(slot) is entry:
            del _clients[slot]
            await entry.context.__aexit__(None, None, None)


def open_clients() -> int:
    """How many shared clients are open (for tests and benchmarks)."""
    return len(_clients)
