"""The ``lsi_detector`` lifecycle node: synced RGB + thermal in, vision_msgs/Detection2DArray out.

A thin adapter: pairing (``sync``/``pairing``), decoding (``image_codec``/``decoding``), registration
(``alignment``), the latest-pair-wins hand-off (``worker_queue``), statistics (``stats``), diagnostics
(``diagnostics``) and the overlay (``overlay``) live in their own modules; detection is
``lsi_perception.inference.Detector``.

Lifecycle:
  configure   read parameters, load + warm up the model, create publishers and the diagnostics timer
  activate    subscribe, start the inference thread, publish label_info
  deactivate  unsubscribe, stop the inference thread, release the model (frees GPU memory; the next
              activate reloads it)
  cleanup / shutdown  drop publishers, timer and model

Threads: subscription callbacks (executor) only record arrival and pair messages; decoding, inference and
publishing run on one inference thread fed through a ``LatestWinsQueue`` so latency stays bounded. That
thread survives any exception; after ``health.MAX_CONSECUTIVE_FAILURES`` in a row the node goes through
error processing (``on_error``) to unconfigured. What diagnostics say and why: ``monitor`` / ``health``.

Missing modality (``missing_modality``): ``wait`` (default) publishes nothing while a stream is stale,
because the network was trained on registered pairs and its scores on a blanked modality are not
calibrated: silently lower-quality detections are worse for a downstream planner than a clear gap plus a
WARN it can act on. ``blank`` keeps detecting on the live stream with the other blanked (for models
trained with modality dropout, or when some output beats none); diagnostics stay at WARN.
"""
from __future__ import annotations

import dataclasses
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from lsi_perception.ros import decoding, pairing
from lsi_perception.ros.alignment import AlignmentError, ThermalAligner
from lsi_perception.ros.diagnostics import STATUS_NAME, PipelineSnapshot
from lsi_perception.ros.health import MAX_CONSECUTIVE_FAILURES, OK, WARN
from lsi_perception.ros.image_codec import ImageDecodeError, as_rgb
from lsi_perception.ros.messages import detections_to_msg, label_info_msg, rgb_image_msg, stamp_to_ns
from lsi_perception.ros.monitor import PipelineMonitor
from lsi_perception.ros.node_config import (
    REMOVED_TOPIC_PARAMETERS,
    RGB_TOPIC,
    THERMAL_TOPIC,
    NodeConfig,
    coerce_parameters,
    parameter_fields,
    runtime_parameters,
)
from lsi_perception.ros.overlay import draw_overlay
from lsi_perception.ros.parameters import descriptor_for
from lsi_perception.ros.worker_queue import Closed, LatestWinsQueue

NODE_NAME = "lsi_detector"
STREAMS = ("rgb", "thermal")
_THERMAL_ENCODING = {"u1": "mono8", "u2": "mono16", "f4": "32FC1"}  # numpy dtype -> Image encoding
_OUTPUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
_LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)


@dataclass
class PendingPair:
    """A pair (or a single message, the other blanked) waiting for inference."""

    rgb: Any | None
    thermal: Any | None
    received: float  # time.monotonic() when the pair was complete


class LsiDetectorNode(LifecycleNode):
    """Lifecycle node wrapping ``Detector``; see the module docstring."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        defaults = NodeConfig()
        for f in parameter_fields():
            value = getattr(defaults, f.name)
            self.declare_parameter(f.name, list(value) if isinstance(value, tuple) else value, descriptor_for(f))
        self.config = self._config_from_parameters()  # raises ValueError naming a bad parameter
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._warn_removed_topic_parameters()

        self.detector = None
        self.checkpoint_path: Path | None = None
        self._aligner: ThermalAligner | None = None
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

    def _config_from_parameters(self) -> NodeConfig:
        cfg = NodeConfig(**coerce_parameters({f.name: self.get_parameter(f.name).value for f in parameter_fields()}))
        cfg.validate()
        return cfg

    def _warn_removed_topic_parameters(self) -> None:
        """rgb_topic / thermal_topic were parameters; topics are now chosen by remapping only. A params file
        or -p still giving them would otherwise be ignored silently."""
        overrides = getattr(self, "_parameter_overrides", {})  # rclpy: params-file and -p values for this node
        for name, topic in REMOVED_TOPIC_PARAMETERS.items():
            if name in overrides:
                value = overrides[name].value
                self.get_logger().warning(
                    f"parameter {name}:={value} is ignored: input topics are chosen by remapping. Use "
                    f"--ros-args -r {topic}:={value} (launch file: {name}:={value}) and drop {name} from the "
                    "params file or command line")

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate a parameter change: runtime knobs apply at once; the rest only while not active."""
        ours = {p.name: p.value for p in params if p.name in {f.name for f in parameter_fields()}}
        if not ours:
            return SetParametersResult(successful=True)
        frozen = sorted(set(ours) - runtime_parameters())
        if frozen and self._active:
            return SetParametersResult(
                successful=False,
                reason=f"{', '.join(frozen)} can only change while the node is not active "
                       "(deactivate and cleanup, set it, then configure and activate)")
        try:
            new = self.config.replace(**coerce_parameters(ours))
        except (ValueError, TypeError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self.config = new
        self._apply_runtime_config()
        return SetParametersResult(successful=True)

    def _apply_runtime_config(self) -> None:
        with self._detector_lock:
            if self.detector is not None:
                self.detector.inference = self.config.inference_overrides(self.detector.meta.inference)

    # ------------------------------------------------------------------ lifecycle

    def on_configure(self, state: State) -> TransitionCallbackReturn:
        try:
            self.config = self._config_from_parameters()
            self._load_detector(warmup=True)
        except (FileNotFoundError, ValueError, RuntimeError, KeyError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self.detector = None
            return TransitionCallbackReturn.FAILURE
        self._aligner = ThermalAligner(self.config.thermal_to_rgb_homography)
        self._det_pub = self.create_lifecycle_publisher(Detection2DArray, "detections", _OUTPUT_QOS)
        self._overlay_pub = self.create_lifecycle_publisher(Image, "detections/image", _OUTPUT_QOS)
        self._label_pub = self.create_lifecycle_publisher(LabelInfo, "label_info", _LATCHED_QOS)
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
        self._label_pub.publish(label_info_msg(Header(frame_id=""), self.detector.class_names,
                                               self.detector.inference.score_threshold))
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
            f"active: {topics[0]} + {topics[1]} -> {self.resolve_topic_name('detections')} "
            f"(model {self.checkpoint_path.name} on {self.detector.device}, {self.detector.precision})")
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
        from lsi_perception.resources import default_checkpoint_path

        cfg = self.config
        path = Path(cfg.checkpoint).expanduser() if cfg.checkpoint else default_checkpoint_path()
        if not path.is_file():
            hint = ("the package's default model is missing: retrain it (make model, i.e. "
                    "lsi train --config config/train_synthetic.yaml) or set the checkpoint parameter") if not cfg.checkpoint \
                else "set the checkpoint parameter to an existing .safetensors file"
            raise FileNotFoundError(f"checkpoint {path} does not exist: {hint}")
        t0 = time.perf_counter()
        options = {"provider": cfg.execution_provider} if cfg.backend == "onnxruntime" else None
        detector = Detector.from_checkpoint(path, device=cfg.device, precision=cfg.precision, backend=cfg.backend,
                                            backend_options=options)
        if cfg.input_size is not None:
            detector.preprocess = dataclasses.replace(detector.preprocess, input_size=cfg.input_size)
        with self._detector_lock:
            self.detector = detector
            self.checkpoint_path = path
        self._apply_runtime_config()
        if warmup and cfg.warmup_iterations:
            h, w = detector.preprocess.input_size or (512, 640)
            for _ in range(cfg.warmup_iterations):
                detector.warmup(h, w)
        self.get_logger().info(
            f"loaded {path} ({detector.meta.model.backbone}, classes {list(detector.class_names)}) with "
            f"{detector.describe()} in {time.perf_counter() - t0:.1f} s; score_threshold "
            f"{detector.inference.score_threshold}, nms_iou {detector.inference.nms_iou}, "
            f"max_detections {detector.inference.max_detections}")

    def _release_detector(self) -> None:
        with self._detector_lock:
            if self.detector is not None:
                self.detector.release()
                self.detector = None

    # ------------------------------------------------------------------ inputs (executor threads)

    def _on_message(self, index: int, msg: Any) -> None:
        now = time.monotonic()
        self._monitor.message(index, stamp_to_ns(msg.header), now)
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
            f"{self.config.time_jump_threshold:g} s: bag loop, /clock reset or simulator restart): pairing reset, "
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
        stream = "rgb"
        try:
            rgb = decoding.decode_rgb(pending.rgb) if pending.rgb is not None else None
            stream = "thermal"
            thermal = decoding.decode_thermal(pending.thermal) if pending.thermal is not None else None
            if thermal is not None:
                thermal = self._aligner.align(thermal, rgb.shape[:2] if rgb is not None else self._rgb_hw(thermal))
        except ImageDecodeError as exc:
            self._count_error("decode", f"{stream} image skipped: {exc}")
            return
        except AlignmentError as exc:
            self._count_error("alignment", f"pair skipped: {exc}")
            return
        t1 = time.perf_counter()
        with self._detector_lock:
            detector = self.detector
            if detector is None:
                return
            try:
                dets = detector.predict(rgb, thermal)
            except ValueError as exc:  # an image the Detector rejects (shape/dtype)
                self._count_error("decode", f"pair skipped: {exc}")
                return
            except RuntimeError as exc:  # e.g. CUDA out of memory: keep running, next pair may fit
                self._count_error("inference", f"inference failed: {exc}", failure=True)
                return
        t2 = time.perf_counter()
        header = pending.rgb.header if pending.rgb is not None else self._thermal_only_header(pending.thermal.header)
        self._det_pub.publish(detections_to_msg(header, dets.boxes, dets.scores, dets.names()))
        now = time.monotonic()
        if self.config.publish_overlay or self._overlay_pub.get_subscription_count() > 0:
            base = rgb if rgb is not None else as_rgb(thermal, _THERMAL_ENCODING[thermal.dtype.str[1:]])
            note = None if (pending.rgb is not None and pending.thermal is not None) else \
                f"{'thermal' if pending.thermal is None else 'rgb'} missing"
            image = draw_overlay(base, dets.boxes, dets.scores, dets.names(), self._monitor.rates["output"].rate(now), note)
            self._overlay_pub.publish(rgb_image_msg(header, image))
        t3 = time.perf_counter()
        self._monitor.output(now, (t2 - t1) * 1e3, ((t1 - t0) + (t3 - t2)) * 1e3, (time.monotonic() - pending.received) * 1e3)

    def _rgb_hw(self, thermal) -> tuple[int, int]:
        """The RGB frame size for a thermal-only pair: the last RGB image's, else the thermal's own."""
        _, h, w = self._last_rgb_shape
        return (h, w) if h and w else thermal.shape[:2]

    def _thermal_only_header(self, thermal_header: Header) -> Header:
        frame = self._last_rgb_shape[0] or thermal_header.frame_id
        return Header(stamp=thermal_header.stamp, frame_id=frame)

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

    def _stop_diagnostics(self) -> None:
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        if self._diag_pub is not None:
            self.destroy_publisher(self._diag_pub)
            self._diag_pub = None
