"""``lsi demo``: the first thing a new user runs. A synthetic drive goes through the real node over DDS.

1. generate a short synthetic drive, one day and one night sequence (``demo_out/data``), in the default
   world unless ``DemoConfig.world`` names a training config's;
2. write it as a rosbag2 (``demo_out/input_bag``), with ground truth on /ground_truth;
3. start the real ``lsi_detector`` node (subprocess, shipped model, ``use_sim_time``) and record its
   /detections in this process (raw CDR, straight to ``demo_out/detections_bag``);
4. start ``lsi bag play`` (subprocess) on the camera topics with /clock; wait until the player is done and
   the node has drained, stop the node with SIGINT;
5. score the recorded detections against the synthetic ground truth (KAIST MR), and write an annotated
   GIF (RGB | thermal with the node's boxes), a contact sheet PNG and ``summary.json``.

Every box drawn or scored comes from the node's /detections messages: the ground truth is only ever the
reference, never a source of boxes. Without the shipped model the demo stops and says how to train it.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lsi_perception.bag.from_dataset import FromDatasetConfig, dataset_to_bag
from lsi_perception.bag.reader import BagReader
from lsi_perception.bag.recorder import Arrival, BagRecorder, header_stamp_ns
from lsi_perception.bag.typestore import DETECTION_2D_ARRAY, IMAGE, typestore
from lsi_perception.checkpoint import read_checkpoint_meta
from lsi_perception.child_processes import tied_child_env
from lsi_perception.dds import use_large_frames_profile
from lsi_perception.demo.drawing import draw_outputs
from lsi_perception.pipeline.defaults import RGB_TOPIC, THERMAL_TOPIC
from lsi_perception.pipeline.detection_codec import BoxArray, read_detection_array
from lsi_perception.pipeline.stamps import stamp_to_ns
from lsi_perception.resources import RETRAIN_SHIPPED_HINT, default_checkpoint_path, detector_command
from lsi_perception.training_data import synthetic_only_warning


@dataclass
class DemoConfig:
    """Size and pace of the demo (defaults: 2 x 40 frames of 640x512, played at 1/20 of real time so a
    2-core CPU keeps up with every pair)."""

    out_dir: Path = Path("demo_out")
    checkpoint: Path | None = None  # None = the shipped model
    frames_per_drive: int = 40  # one day and one night drive
    width: int = 640
    height: int = 512
    rate: float = 0.05  # playback speed factor: 20 Hz camera -> 1 pair per wall-clock second
    device: str = "auto"
    backend: str = "auto"  # the node's backend parameter (auto: the fastest here; its log says which and why)
    seed: int = 7  # no training config uses it: the demo drive is unseen by the shipped model
    # The world the drives are drawn from: "plain" (the default world), or a training config (a file name in
    # config/ or a path) whose data.synthetic knobs are used (frames, size, seed and the day/test split stay
    # the demo's own), e.g. train_synthetic_warm_mid.yaml for the shipped model's own world.
    world: str = "plain"
    node_start_timeout_s: float = 180.0  # model load + warm-up on a slow machine
    drain_timeout_s: float = 30.0  # after the player ends, wait this long for the node's last arrays
    gif_frame_s: float = 0.15
    gif_max_width: int = 640  # RGB | thermal panel width in the GIF (keeps 80 frames to a few MB)
    contact_sheet_frames: int = 8
    progress: bool = True

    def validate(self) -> None:
        if self.frames_per_drive < 1:
            raise ValueError(f"frames_per_drive={self.frames_per_drive} must be >= 1")
        if self.width < 32 or self.height < 32:
            raise ValueError(f"image size {self.width}x{self.height} must be at least 32x32")
        if self.rate <= 0:
            raise ValueError(f"rate={self.rate} must be > 0")

    def synthetic_config(self):
        """The SyntheticConfig of the demo's two drives (see ``world``)."""
        from dataclasses import replace

        from lsi_perception.data.synthetic import SyntheticConfig

        base = SyntheticConfig()
        if self.world != "plain":
            from lsi_perception.resources import config_path
            from lsi_perception.train.config import load_train_config

            path = Path(self.world)
            if not path.is_file():
                path = config_path(self.world)
            if not path.is_file():
                raise FileNotFoundError(f"demo world {self.world!r}: no such training config (a path, a file in "
                                        f"{config_path('')}, or 'plain' for the default world)")
            base = load_train_config(path).data.synthetic
        return replace(base, frames=2 * self.frames_per_drive, frames_per_drive=self.frames_per_drive,
                       width=self.width, height=self.height, day_fraction=0.5, test_fraction=0.0, seed=self.seed)


@dataclass
class DemoSummary:
    """What ``summary.json`` holds (see ``describe`` for what each figure means)."""

    pairs_in: int
    arrays_out: int
    pairs_dropped: int
    mr_reasonable: dict[str, float | None]
    mr_all_settings: dict[str, dict[str, float | None]]
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    pairs_per_second: float | None
    detections_total: int
    checkpoint: str
    playback_rate: float
    frames: dict[str, int]
    outputs: dict[str, str] = field(default_factory=dict)


def _ensure_checkpoint(cfg: DemoConfig) -> Path:
    path = Path(cfg.checkpoint) if cfg.checkpoint else default_checkpoint_path()
    if not path.is_file():
        if cfg.checkpoint:
            raise FileNotFoundError(f"checkpoint {path} does not exist; pass an existing .safetensors file")
        raise FileNotFoundError(
            f"the shipped model {path} is missing, so there is nothing real to demo: {RETRAIN_SHIPPED_HINT}, "
            "or pass --checkpoint PATH"
        )
    return path


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


class _LatencyProbe:
    """Matches each /detections arrival to the arrival of the RGB image it was computed from (same stamp)."""

    def __init__(self, rgb_topic: str, detections_topic: str) -> None:
        self.rgb_topic, self.detections_topic = rgb_topic, detections_topic
        self.rgb_wall: dict[int, int] = {}
        self.latencies_ms: list[float] = []
        self.array_walls: list[int] = []
        self.arrays: dict[int, BoxArray] = {}
        self._lock = threading.Lock()
        self.last_array_wall = 0.0

    def __call__(self, arrival: Arrival) -> None:
        stamp = header_stamp_ns(arrival.data)
        with self._lock:
            if arrival.topic == self.rgb_topic:
                self.rgb_wall[stamp] = arrival.wall_ns
                return
            msg = typestore().deserialize_cdr(arrival.data, DETECTION_2D_ARRAY)
            self.arrays[stamp] = read_detection_array(msg)
            self.array_walls.append(arrival.wall_ns)
            self.last_array_wall = time.monotonic()
            if stamp in self.rgb_wall:
                self.latencies_ms.append((arrival.wall_ns - self.rgb_wall[stamp]) / 1e6)


def _ros_env() -> dict[str, str]:
    """The node's and the player's environment: this one, and they end when this process ends, however it
    ends (lsi_perception.child_processes)."""
    env = tied_child_env()
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _lsi_detector_command(checkpoint: Path, cfg: DemoConfig, topics: FromDatasetConfig) -> list[str]:
    base = detector_command()
    params = {"checkpoint": str(checkpoint), "use_sim_time": "true", "device": cfg.device, "backend": cfg.backend}
    # The node subscribes with sensor-data QoS (best effort), the right default for live cameras. A bag
    # replay is meant to be lossless and the player publishes reliably: subscribe reliably too, so every
    # pair is scored even when this CPU is busy (frames cross processes through the shared memory of the
    # package's Fast DDS profile, which the player and the node both use).
    for topic in (topics.rgb_topic, topics.thermal_topic):
        params[f"qos_overrides.{topic}.subscription.reliability"] = "reliable"
    remaps = {RGB_TOPIC: topics.rgb_topic, THERMAL_TOPIC: topics.thermal_topic}
    return base + ["--ros-args"] + [a for k, v in params.items() for a in ("-p", f"{k}:={v}")] + \
        [a for k, v in remaps.items() for a in ("-r", f"{k}:={v}")]


def run_demo(cfg: DemoConfig) -> DemoSummary:
    """Run the whole demo (see the module docstring); returns the summary also written to summary.json."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from lsi_perception.data.synthetic import generate_dataset

    cfg.validate()
    checkpoint = _ensure_checkpoint(cfg)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data_dir, input_bag, det_bag = out / "data", out / "input_bag", out / "detections_bag"
    for stale in (data_dir, input_bag, det_bag):
        shutil.rmtree(stale, ignore_errors=True)

    _say(f"[1/5] generating a synthetic drive: {cfg.frames_per_drive} day + {cfg.frames_per_drive} night frames "
         f"of {cfg.width}x{cfg.height} in {data_dir}")
    generate_dataset(data_dir, cfg.synthetic_config())
    topics = FromDatasetConfig()
    _say(f"[2/5] writing the rosbag2 {input_bag}")
    written = dataset_to_bag(data_dir, input_bag, topics, progress=cfg.progress)

    _say(use_large_frames_profile().description)  # this process (the recorder) and the node and player it starts
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("lsi_demo_recorder", context=context,
                             parameter_overrides=[Parameter("use_sim_time", value=True)])
    probe = _LatencyProbe(topics.rgb_topic, "/detections")
    recorder = BagRecorder(node, {"/detections": DETECTION_2D_ARRAY}, det_bag,
                           observe={topics.rgb_topic: IMAGE}, on_message=probe)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    detector_log = out / "lsi_detector.log"
    _say(f"[3/5] starting lsi_detector (model {checkpoint.name}, use_sim_time) - log in {detector_log}")
    warning = synthetic_only_warning(read_checkpoint_meta(checkpoint), checkpoint.name)
    if warning is not None:
        _say(f"WARN: {warning}")
    with detector_log.open("w") as log:
        detector = subprocess.Popen(_lsi_detector_command(checkpoint, cfg, topics), stdout=log,
                                    stderr=subprocess.STDOUT, env=_ros_env())
        try:
            play_cmd = [sys.executable, "-m", "lsi_perception.cli", "bag", "play", str(input_bag), "--rate",
                        str(cfg.rate), "--topics", topics.rgb_topic, topics.thermal_topic,
                        "--wait-for-subscribers", str(cfg.node_start_timeout_s)]
            bag_seconds = written.duration_s / cfg.rate
            _say(f"[4/5] playing the bag at {cfg.rate}x ({bag_seconds:.0f} s) once the node subscribes")
            player = subprocess.run(play_cmd, capture_output=True, text=True, env=_ros_env(),
                                    timeout=cfg.node_start_timeout_s + bag_seconds + 120)
            if player.returncode != 0:
                raise RuntimeError(f"lsi bag play failed ({player.returncode}):\n{player.stderr[-2000:]}")
            if detector.poll() is not None:
                raise RuntimeError(f"lsi_detector exited early with code {detector.returncode}; see {detector_log}")
            _wait_for_drain(probe, written.frames, cfg.drain_timeout_s)
        finally:
            _stop(detector)
    recorder.close()
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)
    spinner.join(timeout=5)

    _say("[5/5] scoring against the synthetic ground truth and drawing the outputs")
    return _finish(cfg, checkpoint, input_bag, det_bag, probe, written.frames)


def _wait_for_drain(probe: _LatencyProbe, expected: int, timeout_s: float) -> None:
    """Until every pair has an array, or no array arrived for 5 s, or ``timeout_s`` passed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(probe.arrays) < expected:
        if probe.last_array_wall and time.monotonic() - probe.last_array_wall > 5.0:
            return
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------------------------------
# Scoring and pictures


def _finish(cfg: DemoConfig, checkpoint: Path, input_bag: Path, det_bag: Path, probe: _LatencyProbe,
            pairs_in: int) -> DemoSummary:
    from lsi_perception.bag.ground_truth import evaluate_against_ground_truth, frames_index

    out = Path(cfg.out_dir)
    with BagReader(input_bag) as reader:
        frames = frames_index(reader.custom_data)
        ground_truth = {stamp_to_ns(m.msg.header.stamp): read_detection_array(m.msg)
                        for m in reader.messages(["/ground_truth"])}
    with BagReader(det_bag) as reader:  # what was recorded is what is scored and drawn
        detections = {stamp_to_ns(m.msg.header.stamp): read_detection_array(m.msg)
                      for m in reader.messages(["/detections"])}
    result = evaluate_against_ground_truth(ground_truth, detections, frames, (cfg.width, cfg.height))
    mr = result.to_json()

    gif, sheet = out / "detections.gif", out / "contact_sheet.png"
    draw_outputs(input_bag, detections, frames, gif, sheet, cfg)
    walls = sorted(probe.array_walls)
    span_s = (walls[-1] - walls[0]) / 1e9 if len(walls) > 1 else 0.0
    tod_counts = {tod: sum(1 for _, _, t in frames if t == tod) for tod in ("day", "night")}
    summary = DemoSummary(
        pairs_in=pairs_in, arrays_out=len(detections), pairs_dropped=pairs_in - len(detections),
        mr_reasonable=mr["reasonable"], mr_all_settings=mr,
        latency_ms_p50=_percentile(probe.latencies_ms, 50), latency_ms_p95=_percentile(probe.latencies_ms, 95),
        pairs_per_second=(len(walls) - 1) / span_s if span_s > 0 else None,
        detections_total=sum(len(d) for d in detections.values()), checkpoint=str(checkpoint),
        playback_rate=cfg.rate, frames=tod_counts,
        outputs={"detections_bag": str(det_bag), "gif": str(gif), "contact_sheet": str(sheet),
                 "input_bag": str(input_bag), "dataset": str(out / "data"),
                 "detector_log": str(out / "lsi_detector.log"), "summary": str(out / "summary.json")},
    )
    (out / "summary.json").write_text(json.dumps(asdict(summary), indent=2))
    return summary


# --------------------------------------------------------------------------------------------------


def describe(summary: DemoSummary) -> str:
    """The human summary printed at the end: where each output is and what the figures mean."""

    def fmt(v: float | None, unit: str = "", digits: int = 1) -> str:
        return "n/a" if v is None else f"{v:.{digits}f}{unit}"

    mr = summary.mr_reasonable
    o = summary.outputs
    return "\n".join([
        "",
        f"lsi demo: done. Every box below came from the lsi_detector node over DDS running {Path(summary.checkpoint).name};",
        "none is taken from the ground truth, which is only the reference for the miss rate.",
        "",
        f"  pairs in       {summary.pairs_in:6d}   RGB+thermal pairs the player published",
        f"  arrays out     {summary.arrays_out:6d}   Detection2DArray messages the node published "
        f"({summary.pairs_dropped} pairs dropped: the node keeps only the newest pair when busy)",
        f"  detections     {summary.detections_total:6d}   boxes in those arrays",
        f"  MR reasonable  all {fmt(mr.get('all'), '%')}  day {fmt(mr.get('day'), '%')}  night {fmt(mr.get('night'), '%')}",
        "                 KAIST log-average miss rate over FPPI 1e-2..1e0 on the synthetic ground truth (lower is better;",
        "                 pedestrians >= 55 px, not heavily occluded); dropped pairs count as frames with no detections",
        f"  latency        p50 {fmt(summary.latency_ms_p50, ' ms')}  p95 {fmt(summary.latency_ms_p95, ' ms')}   "
        "RGB image arrival -> its detections' arrival, both seen by the recorder (DDS in, pairing, inference, DDS out)",
        f"  throughput     {fmt(summary.pairs_per_second, ' pairs/s', 2)}   arrays out per wall-clock second "
        f"while playing at {summary.playback_rate}x real time (bounded by the playback rate, not a speed test: "
        "see `lsi bench node`)",
        "",
        f"  detections bag  {o['detections_bag']}   (read it with `lsi bag info` or rosbags)",
        f"  annotated GIF   {o['gif']}   (RGB | thermal, the node's boxes and scores)",
        f"  contact sheet   {o['contact_sheet']}",
        f"  summary         {o['summary']}",
        f"  input bag       {o['input_bag']}   (replay it: `lsi bag play {o['input_bag']} --rate {summary.playback_rate}`)",
        f"  node log        {o['detector_log']}",
    ])


def _say(text: str) -> None:
    print(text, flush=True)
