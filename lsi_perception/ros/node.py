"""The ``lsi_detector`` lifecycle node: synced RGB + thermal in, vision_msgs/Detection2DArray out.

A thin adapter over ROS-free parts: pairing (``pipeline.sync`` via ``ros.pairing``), the per-pair work
(``pipeline.processor.PairProcessor``: decode, align, ``Detector``, the same code ``lsi bag detect`` runs),
parameters (``node_logic.node_config``), the latest-pair-wins hand-off (``node_logic.worker_queue``) and
what diagnostics say (``node_logic.monitor`` / ``health``). This module only wires them to rclpy.

Lifecycle:
  configure   read parameters, load + warm up the model, create publishers and the diagnostics timer
  activate    subscribe, start the inference thread, publish label_info (again whenever a runtime
              parameter changes the score threshold)
  deactivate  unsubscribe, stop the inference thread, release the model (frees GPU memory; the next
              activate reloads it)
  cleanup / shutdown  drop publishers, timer and model

Threads: subscription callbacks (executor) only record arrival and pair messages; decoding, inference and
publishing run on one inference thread fed through a ``LatestWinsQueue`` so latency stays bounded. That
thread survives any exception; after ``health.MAX_CONSECUTIVE_FAILURES`` in a row the node goes through
error processing (``on_error``) to unconfigured. What diagnostics say and why: ``monitor`` / ``health``.

Tracks (``tracking: true``): the processor's ``pipeline.tracking.PairTracker`` gives each detection its
track id by the pairs' stamps; it goes out in ``Detection2D.id`` and on the overlay.

Missing modality (``missing_modality``, see ``pipeline.defaults``): ``wait`` (default) publishes nothing
while a stream is stale; ``blank`` keeps detecting on the live stream with the other blanked
(diagnostics stay at WARN).
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from lsi_perception.node_logic.worker_queue import Closed, LatestWinsQueue
from lsi_perception.pipeline.defaults import (
    DETECTIONS_TOPIC,
    LABEL_INFO_TOPIC,
    OVERLAY_TOPIC,
    RGB_TOPIC,
    THERMAL_TOPIC,
)
from lsi_perception.pipeline.processor import PairProcessor, draw_outcome
from lsi_perception.pipeline.stamps import stamp_to_ns
from lsi_perception.pipeline.tracking import PairTracker, TrackingConfig
from lsi_perception.ros import decoding, pairing, parameters
from lsi_perception.ros.messages import detections_to_msg, image_msg, label_info_msg
from lsi_perception.ros.node_diagnostics import STREAMS, NodeDiagnostics

NODE_NAME = "lsi_detector"
_OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
_LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)


@dataclass
class PendingPair:
    """A pair (or a single message, the other blanked) waiting for inference."""

    rgb: Any | None
    thermal: Any | None
    received: float  # time.monotonic() when the pair was complete


class LsiDetectorNode(NodeDiagnostics, LifecycleNode):
    """Lifecycle node wrapping ``Detector``; see the module docstring."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        parameters.declare(self)
        self.config = parameters.read_config(self)  # raises ValueError naming a bad parameter
        self.add_on_set_parameters_callback(self._on_set_parameters)
        parameters.warn_removed_topic_parameters(self)

        self.detector = None
        self.checkpoint_path: Path | None = None
        self._processor: PairProcessor | None = None
        self._active = False
        self._subs: pairing.PairedSubscriptions | None = None
        self._queue: LatestWinsQueue[PendingPair] | None = None
        self._worker: threading.Thread | None = None
        self._det_pub = self._overlay_pub = self._label_pub = self._diag_pub = None
        self._diag_timer = None
        self._detector_lock = threading.Lock()
        self._failure: str | None = None  # why the node is leaving active through error processing
        self._reset_stats()
        self.get_logger().info(f"pairing: {pairing.IMPLEMENTATION}; decoding: {decoding.IMPLEMENTATION}")

    # ------------------------------------------------------------------ parameters

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate a parameter change: runtime knobs apply at once; the rest only while not active."""
        result, new = parameters.check_change(self.config, params, self._active)
        if new is not None:
            self.config = new
            self._apply_runtime_config()
        return result

    def _apply_runtime_config(self) -> None:
        """Give the Detector the post-processing the parameters ask for (-1 / 0: the checkpoint's) and, while
        active, republish the latched label_info so late joiners see the threshold now in use."""
        with self._detector_lock:
            if self.detector is None:
                return
            wanted = self.config.inference_overrides(self.detector.meta.inference)
            before = self.detector.inference
            now = self.detector.update_inference(**dataclasses.asdict(wanted))
        if self._active and now != before:
            self._publish_label_info()

    def _publish_label_info(self) -> None:
        detector, pub = self.detector, self._label_pub
        if detector is not None and pub is not None:
            pub.publish(label_info_msg(Header(frame_id=""), detector.class_names, detector.inference.score_threshold))

    # ------------------------------------------------------------------ lifecycle

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self.config = parameters.read_config(self)
            self._load_detector(warmup=True)
        except (FileNotFoundError, ValueError, RuntimeError, KeyError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self.detector = None
            return TransitionCallbackReturn.FAILURE
        self._det_pub = self.create_lifecycle_publisher(Detection2DArray, DETECTIONS_TOPIC, _OUTPUT_QOS)
        self._overlay_pub = self.create_lifecycle_publisher(Image, OVERLAY_TOPIC, _OUTPUT_QOS)
        self._label_pub = self.create_lifecycle_publisher(LabelInfo, LABEL_INFO_TOPIC, _LATCHED_QOS)
        self._stop_diagnostics()  # still running after error processing
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(self.config.diagnostics_period, self._publish_diagnostics)
        self._failure = None
        self._reset_stats()
        return super().on_configure(state)

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        if self.detector is None:  # released by a previous deactivate
            try:
                self._load_detector(warmup=False)
            except (FileNotFoundError, ValueError, RuntimeError, KeyError) as exc:
                self.get_logger().error(f"activate failed: cannot reload the model: {exc}")
                return TransitionCallbackReturn.FAILURE
        result = super().on_activate(state)  # activates the lifecycle publishers
        self._publish_label_info()
        self._queue = LatestWinsQueue(self.config.worker_queue_depth)
        self._worker = threading.Thread(target=self._inference_loop, name="lsi_detector_inference", daemon=True)
        self._worker.start()
        self._monitor.activated(time.monotonic())
        self._active = True
        msg_type = CompressedImage if self.config.image_transport == "compressed" else Image
        topics = self.input_topics()
        self._subs = pairing.PairedSubscriptions(
            self, msg_type, topics, qos_profile_sensor_data, self.config.queue_size, self.config.slop,
            on_message=self._on_message, on_pair=self._on_pair,
            time_jump_threshold=self.config.time_jump_threshold, on_time_jump=self._on_time_jump)
        self.get_logger().info(
            f"active: {topics[0]} + {topics[1]} -> {self.resolve_topic_name(DETECTIONS_TOPIC)} "
            f"(model {self.checkpoint_path.name} on {self.detector.device}, {self.detector.precision}"
            f"{'; tracking: Detection2D.id = track id' if self.config.tracking else ''})")
        return result

    def input_topics(self) -> tuple[str, str]:
        """The fully qualified (rgb, thermal) topics subscribed: RGB_TOPIC / THERMAL_TOPIC after namespace
        and remapping, ``/compressed`` appended for compressed input (a remap of that name applies too)."""
        bases = (self.resolve_topic_name(RGB_TOPIC), self.resolve_topic_name(THERMAL_TOPIC))
        return tuple(self.resolve_topic_name(t) for t in self.config.input_topics(*bases))

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        self._stop_pipeline()
        self._release_detector()
        if self._failure:  # leave through error processing (on_error)
            return TransitionCallbackReturn.ERROR
        return super().on_deactivate(state)

    def on_error(self, state: State) -> TransitionCallbackReturn:
        """Error processing: drop the pipeline and outputs, keep /diagnostics (ERROR, naming why); the node
        ends unconfigured, so a lifecycle manager (or ``ros2 lifecycle set``) can configure it again."""
        self.get_logger().error(f"error processing: {self._failure or 'a transition failed'}; the node is now "
                                "unconfigured (configure and activate to retry)")
        self._stop_pipeline()
        self._teardown(keep_diagnostics=True)
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        self._teardown()
        return super().on_cleanup(state)

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        self._stop_pipeline()
        self._teardown()
        return super().on_shutdown(state)

    def stop(self) -> None:
        """Stop subscriptions and the inference thread and free the model without a lifecycle transition
        (used on process shutdown, when the ROS context may already be gone)."""
        self._stop_pipeline()
        self._release_detector()

    # ------------------------------------------------------------------ model

    def _load_detector(self, warmup: bool) -> None:
        from lsi_perception.inference import Detector
        from lsi_perception.resources import resolve_checkpoint
        from lsi_perception.training_data import synthetic_only_warning

        cfg = self.config
        path = resolve_checkpoint(cfg.checkpoint)
        t0 = time.perf_counter()
        options = {"provider": cfg.execution_provider} if cfg.backend != "torch" else None
        detector = Detector.from_checkpoint(
            path, device=cfg.device, precision=cfg.precision, backend=cfg.backend, backend_options=options,
            preprocess={"input_size": cfg.input_size} if cfg.input_size is not None else None)
        with self._detector_lock:
            self.detector = detector
            self.checkpoint_path = path
            self._processor = PairProcessor(detector, cfg.thermal_to_rgb_homography, decoding.message_to_array,
                                            tracker=_tracker(cfg))
        self._apply_runtime_config()
        for _ in range(cfg.warmup_iterations if warmup else 0):
            detector.warmup()
        inference = detector.inference
        self.get_logger().info(
            f"loaded {path} ({detector.meta.model.backbone}, classes {list(detector.class_names)}) with "
            f"{detector.describe()} ({detector.backend_reason}) in {time.perf_counter() - t0:.1f} s; score_threshold "
            f"{inference.score_threshold}, nms_iou {inference.nms_iou}, max_detections {inference.max_detections}")
        warning = synthetic_only_warning(detector.meta, path.name)
        if warning is not None:
            self.get_logger().warning(warning)

    def _release_detector(self) -> None:
        with self._detector_lock:
            if self.detector is not None:
                self.detector.release()
                self.detector = None
                self._processor = None

    # ------------------------------------------------------------------ inputs (executor threads)

    def _on_message(self, index: int, msg: Any) -> None:
        now = time.monotonic()
        self._monitor.message(index, stamp_to_ns(msg.header.stamp), now)
        if index == 0:
            self._last_rgb_shape = (msg.header.frame_id, getattr(msg, "height", 0), getattr(msg, "width", 0))
        if self.config.missing_modality == "blank" and self._monitor.is_stale(STREAMS[1 - index], now, self._active):
            self._monitor.blanked += 1
            self._enqueue(PendingPair(msg if index == 0 else None, msg if index == 1 else None, now))

    def _on_pair(self, rgb_msg: Any, thermal_msg: Any) -> None:
        now = time.monotonic()
        self._monitor.pair(now)
        self._enqueue(PendingPair(rgb_msg, thermal_msg, now))

    def _on_time_jump(self, index: int, back_ns: int) -> None:
        self.get_logger().warning(
            f"{STREAMS[index]} stamps jumped back {back_ns / 1e9:.3f} s (> time_jump_threshold "
            f"{self.config.time_jump_threshold:g} s: bag loop, /clock reset or simulator restart): pairing "
            f"{'and tracks ' if self.config.tracking else ''}reset, "
            "detecting again from the next pair")

    def _enqueue(self, pending: PendingPair) -> None:
        queue = self._queue
        if queue is None:
            return
        try:
            queue.put(pending)
        except Closed:
            pass

    # ------------------------------------------------------------------ inference thread

    def _inference_loop(self) -> None:
        queue = self._queue
        while True:
            try:
                pending = queue.get()
            except Closed:
                return
            if pending is None:
                continue
            try:
                self._process(pending)
            except Exception as exc:  # noqa: BLE001 - the thread must survive anything a pair can cause
                name = type(exc).__name__
                self._count_error("inference", f"unexpected {name} in the inference thread, pair skipped: {exc}",
                                  failure=True, traceback_of=name)

    def _process(self, pending: PendingPair) -> None:
        t0 = time.perf_counter()
        processor = self._processor
        if processor is None:
            return
        _, h, w = self._last_rgb_shape
        outcome = processor.decode(pending.rgb, pending.thermal, (h, w) if h and w else None)
        t1 = time.perf_counter()
        with self._detector_lock:
            if self._processor is not processor:  # released (deactivate) while decoding
                return
            outcome = processor.detect(outcome)
        t2 = time.perf_counter()
        if outcome.skipped is not None:
            self._count_error(outcome.skipped.kind, outcome.skipped.message, failure=outcome.skipped.failure)
            return
        dets = outcome.detections
        header = pending.rgb.header if pending.rgb is not None else self._thermal_only_header(pending.thermal.header)
        self._det_pub.publish(detections_to_msg(header, dets.boxes, dets.scores, dets.names(), outcome.ids))
        now = time.monotonic()
        if self.config.publish_overlay or self._overlay_pub.get_subscription_count() > 0:
            self._overlay_pub.publish(image_msg(header, draw_outcome(outcome, self._monitor.rates["output"].rate(now))))
        t3 = time.perf_counter()
        self._monitor.output(now, (t2 - t1) * 1e3, ((t1 - t0) + (t3 - t2)) * 1e3, (time.monotonic() - pending.received) * 1e3)

    def _thermal_only_header(self, thermal_header: Header) -> Header:
        frame = self._last_rgb_shape[0] or thermal_header.frame_id
        return Header(stamp=thermal_header.stamp, frame_id=frame)

    # ------------------------------------------------------------------ teardown

    def _stop_pipeline(self) -> None:
        self._active = False
        if self._subs is not None:
            self._subs.destroy()
            self._subs = None
        if self._queue is not None:
            self._queue.close()
        if self._worker is not None:
            self._worker.join(timeout=10.0)
            self._worker = None
        self._queue = None

    def _teardown(self, keep_diagnostics: bool = False) -> None:
        if not keep_diagnostics:
            self._stop_diagnostics()
        for pub in (self._det_pub, self._overlay_pub, self._label_pub):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        self._det_pub = self._overlay_pub = self._label_pub = None
        self._release_detector()


def _tracker(cfg) -> PairTracker | None:
    """The pedestrian tracker of ``tracking: true`` (a new timeline past ``time_jump_threshold``, as pairing)."""
    return PairTracker(TrackingConfig(time_jump_s=cfg.time_jump_threshold)) if cfg.tracking else None
