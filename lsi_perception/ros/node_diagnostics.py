"""The ``lsi_detector`` node's own health: error counting, the pipeline snapshot and /diagnostics.

A mixin of ``LsiDetectorNode`` (node.py) holding one responsibility: what the node reports about itself.
The decisions are ROS-free (``node_logic.monitor`` / ``health``); this only reads the node's state and
publishes the verdict.
"""
from __future__ import annotations

import time
import traceback

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Header

from lsi_perception.node_logic.diagnostics import STATUS_NAME, PipelineSnapshot
from lsi_perception.node_logic.health import MAX_CONSECUTIVE_FAILURES, OK, WARN
from lsi_perception.node_logic.monitor import PipelineMonitor
from lsi_perception.ros import decoding, pairing

STREAMS = ("rgb", "thermal")


class NodeDiagnostics:
    """Counting, snapshot and /diagnostics publishing for ``LsiDetectorNode`` (uses its attributes)."""

    def _count_error(self, kind: str, text: str, failure: bool = False, traceback_of: str | None = None) -> None:
        """Count an error and log it, at most once per health.ERROR_LOG_PERIOD_S for the same text (with the
        traceback the first time an exception type ``traceback_of`` is seen)."""
        if self._monitor.errors.record(kind, text, time.monotonic(), failure):
            tb = f"\n{traceback.format_exc()}" if traceback_of and self._monitor.first_traceback(traceback_of) else ""
            self.get_logger().error(f"{text} (diagnostics: {kind}_errors={self._monitor.errors.counts[kind]}; "
                                    f"node keeps running){tb}")

    # ------------------------------------------------------------------ diagnostics

    def _reset_stats(self) -> None:
        self._monitor = PipelineMonitor(self.config.stale_timeout)
        self._latency = self._monitor.latency  # read by lsi bench node
        self._last_rgb_shape: tuple[str, int, int] = ("", 0, 0)

    @property
    def error_counts(self) -> dict[str, int]:
        """Inputs skipped so far, by kind: decode, alignment, inference."""
        return dict(self._monitor.errors.counts)

    def snapshot(self) -> PipelineSnapshot:
        det, subs = self.detector, self._subs
        topics = dict(zip(STREAMS, subs.topics)) if subs is not None else {k: k for k in STREAMS}
        return self._monitor.snapshot(
            time.monotonic(), active=self._active, configured=self._det_pub is not None,
            state="active" if self._active else ("inactive" if self._det_pub is not None else "unconfigured"),
            queue_dropped=self._queue.dropped if self._queue is not None else 0,
            missing_modality=self.config.missing_modality, slop=self.config.slop, topics=topics,
            publishers={k: self.count_publishers(t) if subs is not None else 0 for k, t in topics.items()},
            sync_stats=subs.policy.stats if subs is not None and subs.policy is not None else None,
            failure=self._failure, device=str(det.device) if det is not None else "none",
            precision=det.precision if det is not None else "none",
            model=str(self.checkpoint_path) if self.checkpoint_path else "none",
            sync_implementation=pairing.IMPLEMENTATION, decoder_implementation=decoding.IMPLEMENTATION)

    def _publish_diagnostics(self) -> None:
        snap = self.snapshot()
        verdict, values, line = self._monitor.verdict(snap, time.monotonic())
        status = DiagnosticStatus(level=bytes([verdict.level]), name=f"{self.get_fully_qualified_name().lstrip('/')}: {STATUS_NAME}",
                                  message=verdict.message, hardware_id=values["device"],
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        self._diag_pub.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))
        if line and verdict.level == OK:  # one call site per severity: rclpy requires it
            self.get_logger().info(f"status: {line}")
        elif line and verdict.level == WARN:
            self.get_logger().warning(f"status: {line}")
        elif line:
            self.get_logger().error(f"status: {line}")
        if self._active and snap.evidence.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            self._failure = verdict.message
            self.trigger_deactivate()  # on_deactivate returns ERROR -> on_error -> unconfigured

    def _stop_diagnostics(self) -> None:
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        if self._diag_pub is not None:
            self.destroy_publisher(self._diag_pub)
            self._diag_pub = None
