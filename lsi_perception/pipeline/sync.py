"""Approximate-time pairing of N message streams, without ROS: the policy of message_filters' Python
``ApproximateTimeSynchronizer``, fed ``(stamp_ns, msg)`` tuples.

Semantics (same as message_filters when it is installed, so the node behaves the same either way):

* one queue per topic, keyed by stamp, holding at most ``queue_size`` messages; when full the oldest
  is evicted (counted in ``stats.evicted``);
* every arriving message is the pivot: for each *other* topic, the queued stamps within ``slop`` of
  the pivot are the candidates, nearest first; the first combination whose stamps all lie within
  ``slop`` of each other is emitted (pivot included) and its messages leave their queues;
* a message with the same stamp as one already queued on its topic replaces it;
* out of order: a message older than the newest stamp already emitted on its topic can only produce
  an output older than one already published, which breaks the time order downstream consumers rely on;
  it is dropped and counted in ``stats.out_of_order`` (message_filters' C++ ApproximateTime policy does the
  same; its Python synchronizer does not check, which only matters for streams that go back in time);
* time jumps: a message stamped more than ``jump_back_ns`` before the newest stamp seen on its topic is
  not a late message but a new timeline (a bag that loops, a ``/clock`` reset, a restarted simulator).
  Like tf2 clearing its buffer when ROS time jumps back, the policy then forgets everything (queues and
  emitted stamps), counts it in ``stats.time_jumps``, calls ``on_time_jump(topic_index, back_ns)`` and
  pairs the message as the first of the new timeline, so the next pair is emitted as usual.

Thread-safe: ``add`` may be called from several executor threads.
"""
from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class SyncStats:
    """Counters of what happened to the messages fed to the policy."""

    received: list[int]
    emitted: int = 0
    evicted: int = 0
    out_of_order: int = 0
    time_jumps: int = 0
    last_jump_back_ns: int = 0  # how far the stamps went back at the last time jump


class ApproximateTimePolicy:
    """Pairs messages of ``num_topics`` streams whose stamps are within ``slop_ns`` of each other.

    ``add(topic_index, stamp_ns, msg)`` returns the list of emitted tuples (one message per topic, in
    topic order) that this message completed: empty or one tuple. ``callback``, if given, is also called
    with each emitted tuple's messages as positional arguments (outside the lock).
    """

    def __init__(self, num_topics: int, queue_size: int, slop_ns: int,
                 callback: Callable[..., Any] | None = None, jump_back_ns: int | None = None,
                 on_time_jump: Callable[[int, int], Any] | None = None) -> None:
        if num_topics < 2:
            raise ValueError(f"approximate-time sync needs at least 2 topics, got {num_topics}")
        if queue_size < 1:
            raise ValueError(f"queue_size={queue_size} must be >= 1")
        if slop_ns < 0:
            raise ValueError(f"slop must be >= 0, got {slop_ns} ns")
        if jump_back_ns is not None and jump_back_ns <= 0:
            raise ValueError(f"jump_back_ns must be > 0 (or None to never reset), got {jump_back_ns}")
        self.jump_back_ns = jump_back_ns
        self._on_time_jump = on_time_jump
        self._newest: list[int | None] = [None] * num_topics
        self.queue_size = queue_size
        self.slop_ns = int(slop_ns)
        self._queues: list[dict[int, Any]] = [{} for _ in range(num_topics)]
        self._last_emitted: list[int | None] = [None] * num_topics
        self._callback = callback
        self._lock = threading.Lock()
        self.stats = SyncStats(received=[0] * num_topics)

    @property
    def num_topics(self) -> int:
        return len(self._queues)

    def queued(self) -> list[int]:
        """Messages waiting for a partner, per topic."""
        with self._lock:
            return [len(q) for q in self._queues]

    def reset(self) -> None:
        """Forget every queued message and the emitted-stamp history (e.g. after a time jump)."""
        with self._lock:
            self._reset_locked()

    def _reset_locked(self) -> None:
        for q in self._queues:
            q.clear()
        self._last_emitted = [None] * self.num_topics
        self._newest = [None] * self.num_topics

    def add(self, topic_index: int, stamp_ns: int, msg: Any) -> list[tuple[Any, ...]]:
        """Queue ``msg`` stamped ``stamp_ns`` on topic ``topic_index``; return the tuples it completed."""
        with self._lock:
            jump = self._check_time_jump(topic_index, int(stamp_ns))
            emitted = self._add_locked(topic_index, int(stamp_ns), msg)
        if jump and self._on_time_jump is not None:
            self._on_time_jump(topic_index, jump)
        if self._callback is not None:
            for group in emitted:
                self._callback(*group)
        return emitted

    def _check_time_jump(self, index: int, stamp: int) -> int:
        """Reset on a jump back beyond ``jump_back_ns``; return how far back it went (0 = no jump)."""
        newest = self._newest[index]
        if newest is None or stamp >= newest:
            self._newest[index] = stamp
            return 0
        back = newest - stamp
        if self.jump_back_ns is None or back <= self.jump_back_ns:
            return 0
        self._reset_locked()
        self._newest[index] = stamp
        self.stats.time_jumps += 1
        self.stats.last_jump_back_ns = back
        return back

    def _add_locked(self, index: int, stamp: int, msg: Any) -> list[tuple[Any, ...]]:
        self.stats.received[index] += 1
        last = self._last_emitted[index]
        if last is not None and stamp <= last:
            self.stats.out_of_order += 1
            return []
        queue = self._queues[index]
        queue[stamp] = msg
        while len(queue) > self.queue_size:
            del queue[min(queue)]
            self.stats.evicted += 1
        if stamp not in queue:  # the new message itself was the oldest and got evicted
            return []

        candidates: list[list[int]] = []
        for other_index, other in enumerate(self._queues):
            if other_index == index:
                candidates.append([stamp])
                continue
            near = sorted((s for s in other if abs(s - stamp) <= self.slop_ns), key=lambda s: abs(s - stamp))
            if not near:
                return []
            candidates.append(near)

        for combo in itertools.product(*candidates):
            if max(combo) - min(combo) <= self.slop_ns:
                group = tuple(q.pop(s) for q, s in zip(self._queues, combo))
                for i, s in enumerate(combo):
                    self._last_emitted[i] = s
                self.stats.emitted += 1
                return [group]
        return []


def pair_offline(streams: Sequence[Sequence[tuple[int, Any]]], queue_size: int, slop_ns: int) -> list[tuple[Any, ...]]:
    """Pair recorded streams (each a list of ``(stamp_ns, msg)``) as if they arrived merged in stamp order.

    Useful for bag tools and tests: the same policy the node runs live.
    """
    policy = ApproximateTimePolicy(len(streams), queue_size, slop_ns)
    arrivals = sorted(((stamp, i, msg) for i, s in enumerate(streams) for stamp, msg in s), key=lambda t: (t[0], t[1]))
    out: list[tuple[Any, ...]] = []
    for stamp, i, msg in arrivals:
        out.extend(policy.add(i, stamp, msg))
    return out
