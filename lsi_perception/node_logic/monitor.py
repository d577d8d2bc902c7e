"""What the ``lsi_detector`` node counts and measures, and its diagnostics verdict, without ROS.

The node reports events (a message, a pair, an output, an error) and asks for a ``PipelineSnapshot``
and a verdict each diagnostics period; the decision itself is ``health.HealthMonitor``'s. Times are
``time.monotonic()`` seconds; rates fall to 0 once a stream stops for ``stale_timeout``.
"""
from __future__ import annotations

import time
from typing import Any

from lsi_perception.node_logic.diagnostics import PipelineSnapshot, assess, diagnostic_values
from lsi_perception.node_logic.health import (
    Assessment,
    ErrorTracker,
    HealthEvidence,
    HealthMonitor,
    StatusLog,
)
from lsi_perception.node_logic.stats import LatencyWindow, RateMeter

STREAMS = ("rgb", "thermal")
LATENCIES = ("inference", "node_overhead", "end_to_end")


class PipelineMonitor:
    """Rates, latencies, error counts, last stamps and the health history of one configure..cleanup."""

    def __init__(self, stale_timeout: float) -> None:
        self.stale_timeout = stale_timeout
        self.rates = {name: RateMeter(idle_s=stale_timeout) for name in (*STREAMS, "paired", "output")}
        self.latency = {name: LatencyWindow() for name in LATENCIES}
        self.errors = ErrorTracker()
        self.health = HealthMonitor()
        self.status_log = StatusLog()
        self.last_stamp_ns: list[int | None] = [None, None]
        self.paired = 0
        self.blanked = 0
        self.activated_at = time.monotonic()
        self.tracebacks_logged: set[str] = set()

    # ------------------------------------------------------------------ events
    def activated(self, now: float) -> None:
        self.activated_at = now

    def message(self, index: int, stamp_ns: int, now: float) -> None:
        self.rates[STREAMS[index]].tick(now)
        self.last_stamp_ns[index] = stamp_ns

    def pair(self, now: float) -> None:
        self.rates["paired"].tick(now)
        self.paired += 1

    def output(self, now: float, inference_ms: float, overhead_ms: float, end_to_end_ms: float) -> None:
        self.rates["output"].tick(now)
        self.errors.success()
        self.latency["inference"].add(inference_ms)
        self.latency["node_overhead"].add(overhead_ms)
        self.latency["end_to_end"].add(end_to_end_ms)

    def first_traceback(self, kind: str) -> bool:
        """True the first time an exception type is seen (its traceback is logged once)."""
        if kind in self.tracebacks_logged:
            return False
        self.tracebacks_logged.add(kind)
        return True

    # ------------------------------------------------------------------ queries
    def is_stale(self, name: str, now: float, active: bool) -> bool:
        age = self.rates[name].age(now)
        if age is None:  # nothing yet: stale once we have been listening longer than the timeout
            return active and now - self.activated_at > self.stale_timeout
        return age > self.stale_timeout

    def snapshot(self, now: float, *, state: str, configured: bool, active: bool, queue_dropped: int,
                 missing_modality: str, slop: float, topics: dict[str, str], publishers: dict[str, int],
                 sync_stats: Any | None, failure: str | None, **labels: str) -> PipelineSnapshot:
        """Everything diagnostics report; ``labels``: device, precision, model, sync_implementation,
        decoder_implementation; ``sync_stats``: the pairing policy's SyncStats (None with message_filters)."""
        errors, last_errors, in_a_row = self.errors.snapshot()
        rgb_ns, th_ns = self.last_stamp_ns
        evidence = HealthEvidence(
            active_for_s=now - self.activated_at, output_age_s=self.rates["output"].age(now),
            stale_timeout=self.stale_timeout, slop_s=slop, input_topics=topics, publishers=publishers,
            stamp_offset_s=(rgb_ns - th_ns) / 1e9 if rgb_ns is not None and th_ns is not None else None,
            sync_out_of_order=sync_stats.out_of_order if sync_stats else 0,
            time_jumps=sync_stats.time_jumps if sync_stats else 0,
            last_jump_back_s=sync_stats.last_jump_back_ns / 1e9 if sync_stats else 0.0,
            last_errors=last_errors, consecutive_failures=in_a_row, failure=failure)
        return PipelineSnapshot(
            state=state, configured=configured,
            rates_hz={k: self.rates[k].rate(now) for k in ("rgb", "thermal", "paired", "output")},
            ages_s={k: self.rates[k].age(now) for k in STREAMS},
            stale={k: active and self.is_stale(k, now, active) for k in STREAMS},
            received={k: self.rates[k].count for k in STREAMS}, paired=self.paired,
            published=self.rates["output"].count, queue_dropped=queue_dropped,
            latency_ms={k: w.percentiles(50, 95) for k, w in self.latency.items()},
            errors=errors, missing_modality_policy=missing_modality, blanked_pairs=self.blanked,
            evidence=evidence, **labels)

    def verdict(self, snapshot: PipelineSnapshot, now: float) -> tuple[Assessment, dict[str, str], str | None]:
        """(level + message + cause, the key -> value strings, a log line or None) for this period."""
        assessment = assess(snapshot, self.health, now)
        return assessment, diagnostic_values(snapshot), self.status_log.line(assessment, now)
