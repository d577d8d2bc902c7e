"""A bounded hand-off between the subscription callbacks and the inference thread: latest item wins.

When the cameras outrun the model, queued pairs go stale; keeping only the newest ``depth`` items bounds
the latency to about one inference. Dropped items are counted, never silently lost.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Closed(Exception):
    """Raised by ``get`` once the queue is closed and empty."""


class LatestWinsQueue(Generic[T]):
    """Thread-safe queue of at most ``depth`` items; ``put`` on a full queue drops the oldest."""

    def __init__(self, depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"depth={depth} must be >= 1")
        self.depth = depth
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.put_count = 0

    def put(self, item: T) -> T | None:
        """Enqueue ``item``; return the item it displaced (now dropped) or None."""
        with self._cond:
            if self._closed:
                raise Closed("queue is closed")
            displaced = None
            if len(self._items) >= self.depth:
                displaced = self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.put_count += 1
            self._cond.notify()
            return displaced

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, waiting up to ``timeout`` s (None = forever); None on timeout; Closed when closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout):
                return None
            if self._items:
                return self._items.popleft()
            raise Closed("queue is closed")

    def close(self) -> None:
        """Wake every waiter; later ``get`` calls raise Closed once the remaining items are gone."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
