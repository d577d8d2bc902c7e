"""Rolling rates and latency percentiles for the node's diagnostics (no ROS; times in seconds)."""
from __future__ import annotations

import threading
from collections import deque

import numpy as np


class RateMeter:
    """Events per second over the last ``window_s`` seconds, plus the time of the last event.

    The rate drops to 0 as soon as the events stop: once no event came for ``idle_s`` seconds and for
    twice the mean interval of the window (so a slow but steady stream does not flicker to 0 between
    events), instead of fading out over the whole window.
    """

    def __init__(self, window_s: float = 5.0, idle_s: float = 1.0) -> None:
        self.window_s = window_s
        self.idle_s = idle_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self.count = 0
        self.last: float | None = None

    def tick(self, now: float) -> None:
        with self._lock:
            self._times.append(now)
            self.count += 1
            self.last = now
            self._trim(now)

    def rate(self, now: float) -> float:
        """Events/s in the window ending at ``now`` (0 with fewer than 2 events)."""
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            events_span = self._times[-1] - self._times[0]
            mean_interval = events_span / (len(self._times) - 1)
            if now - self._times[-1] > max(self.idle_s, 2.0 * mean_interval):
                return 0.0
            span = max(now - self._times[0], events_span)
            return (len(self._times) - 1) / span if span > 0 else 0.0

    def age(self, now: float) -> float | None:
        """Seconds since the last event, None if there was none."""
        with self._lock:
            return None if self.last is None else now - self.last

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()


class LatencyWindow:
    """The last ``size`` latency samples (ms) and their percentiles."""

    def __init__(self, size: int = 200) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, ms: float) -> None:
        with self._lock:
            self._samples.append(ms)

    def percentiles(self, *qs: float) -> tuple[float, ...]:
        """Percentiles (0-100) of the window; NaN for each when empty."""
        with self._lock:
            if not self._samples:
                return tuple(float("nan") for _ in qs)
            return tuple(float(v) for v in np.percentile(np.fromiter(self._samples, float), qs))

    def __len__(self) -> int:
        with self._lock:
            return len(self._samples)
