"""No silent failures, without ROS: the health verdict, its log throttling, time jumps in the pairing
policy, rates that fall to 0, untrustworthy thermal values and typed parameter errors."""
from __future__ import annotations

import numpy as np
import pytest

from lsi_perception.imaging import check_thermal
from lsi_perception.node_logic.health import (
    ERROR,
    MAX_CONSECUTIVE_FAILURES,
    OK,
    WARN,
    ErrorTracker,
    HealthEvidence,
    HealthMonitor,
    StatusLog,
)
from lsi_perception.node_logic.node_config import NodeConfig, coerce_parameters
from lsi_perception.node_logic.stats import RateMeter
from lsi_perception.pipeline.image_codec import ImageDecodeError, as_rgb, as_thermal
from lsi_perception.pipeline.sync import ApproximateTimePolicy

MS = 1_000_000
S = 1_000_000_000


class Pipeline:
    """A fake node's counters, advanced by hand, judged by one HealthMonitor."""

    def __init__(self, **evidence) -> None:
        self.monitor = HealthMonitor()
        self.errors = {"decode": 0, "alignment": 0, "inference": 0}
        self.paired = 0
        self.stale = {"rgb": False, "thermal": False}
        self.ages: dict[str, float | None] = {"rgb": 0.01, "thermal": 0.01}
        self.received = {"rgb": 5, "thermal": 5}
        self.evidence = HealthEvidence(**{"active_for_s": 10.0, "stale_timeout": 1.0, **evidence})

    def judge(self, now: float):
        return self.monitor.assess("active", True, self.stale, self.ages, self.received,
                                   self.paired, self.errors, "wait", self.evidence, now)


def test_ok_only_while_pairs_are_answered():
    p = Pipeline(output_age_s=0.1)
    assert p.judge(0.0).level == OK and p.judge(0.0).message == "detecting"
    p.evidence.output_age_s = 3.0  # inputs arrive, nothing published for 3 s, pairs made
    p.paired = 10
    a = p.judge(0.1)
    assert a.level == ERROR and "not answered" in a.message


@pytest.mark.parametrize("kind", ["decode", "alignment", "inference"])
def test_every_pair_failing_is_an_error_naming_the_kind_and_last_message(kind):
    p = Pipeline(output_age_s=None)
    p.judge(0.0)
    p.errors[kind] = 3
    p.evidence.last_errors = {kind: f"the {kind} problem"}
    a = p.judge(1.0)
    assert a.level == ERROR and f"{kind} errors (3 so far)" in a.message and f"the {kind} problem" in a.message
    p.evidence.output_age_s = 0.2  # answering again, errors still recent: WARN, not OK
    assert p.judge(1.5).level == WARN
    assert p.judge(5.0).level == OK  # the errors are old now


def test_unpaired_streams_name_their_stamp_offset_and_the_slop():
    p = Pipeline(output_age_s=None, stamp_offset_s=-5.0, slop_s=0.05)
    a = p.judge(0.0)
    assert a.level == ERROR and "never pair" in a.message and "-5.000 s" in a.message and "slop is 0.05 s" in a.message


def test_time_jump_and_out_of_order_are_named():
    p = Pipeline(output_age_s=2.0)
    p.judge(0.0)
    p.evidence.time_jumps, p.evidence.last_jump_back_s = 1, 30.0
    a = p.judge(0.5)
    assert a.level == WARN and "jumped back 30.0 s" in a.message
    p.evidence.sync_out_of_order = 4
    a = p.judge(3.0)  # jump no longer recent; old stamps keep being dropped
    assert a.level == ERROR and "older than the last pair" in a.message


def test_stale_stream_with_publishers_names_both_causes_and_how_to_tell_them_apart():
    p = Pipeline(output_age_s=None, publishers={"rgb": 1, "thermal": 0},
                 input_topics={"rgb": "/cam/rgb", "thermal": "/cam/th"})
    p.stale = {"rgb": True, "thermal": True}
    p.ages, p.received = {"rgb": None, "thermal": None}, {"rgb": 0, "thermal": 0}
    a = p.judge(0.0)
    assert a.level == WARN and "1 publisher(s) matched on /cam/rgb (none received since activation)" in a.message
    # What it cannot know (an idle publisher or frames lost in transport), how to tell, and the fix for each.
    assert "cannot tell an idle publisher" in a.message and "ros2 topic hz /cam/rgb" in a.message
    assert "fastdds_large_frames.xml" in a.message and "rmem_max" in a.message
    p.ages, p.received = {"rgb": 3.2, "thermal": None}, {"rgb": 40, "thermal": 0}  # a bag that finished
    a = p.judge(0.1)
    assert "(40 received, the last 3.2 s ago)" in a.message and "bag paused, finished" in a.message
    p.evidence.publishers = {"rgb": 0, "thermal": 0}  # nobody publishes: a plain stale warning
    a = p.judge(0.2)
    assert a.level == WARN and "fastdds" not in a.message


def test_slow_model_is_not_called_stuck():
    p = Pipeline(output_age_s=2.5, inference_p95_ms=1500.0)  # 1.5 s per pair, stale_timeout 1 s
    assert p.judge(0.0).level == OK


def test_repeated_failures_and_failure_state_are_errors():
    p = Pipeline(output_age_s=0.1, consecutive_failures=MAX_CONSECUTIVE_FAILURES,
                 last_errors={"inference": "CUDA out of memory"})
    a = p.judge(0.0)
    assert a.level == ERROR and "in a row" in a.message and "CUDA out of memory" in a.message
    p.evidence.failure = "inference failed 5 times in a row"
    assert p.judge(0.1).message == "inference failed 5 times in a row"


def test_status_log_once_per_cause_throttled_and_recovery():
    log = StatusLog(repeat_s=60.0)
    p = Pipeline(output_age_s=None, stamp_offset_s=5.0)
    lines = [log.line(p.judge(t), t) for t in (0.0, 1.0, 2.0, 61.0)]
    assert [bool(line) for line in lines] == [True, False, False, True]
    p.evidence.output_age_s = 0.1
    assert log.line(p.judge(62.0), 62.0) == "recovered: detecting"
    assert log.line(p.judge(63.0), 63.0) is None


def test_error_tracker_counts_throttles_and_resets_failures_in_a_row():
    t = ErrorTracker(log_period_s=5.0)
    assert t.record("inference", "boom", 0.0, failure=True) is True
    assert t.record("inference", "boom", 1.0, failure=True) is False
    assert t.record("decode", "bad", 1.0) is True
    counts, last, in_a_row = t.snapshot()
    assert counts == {"decode": 1, "alignment": 0, "inference": 2} and last["decode"] == "bad" and in_a_row == 2
    t.success()
    assert t.snapshot()[2] == 0


def test_time_jump_back_resets_the_policy_and_pairs_at_once():
    jumps = []
    policy = ApproximateTimePolicy(2, queue_size=5, slop_ns=10 * MS, jump_back_ns=1 * S,
                                   on_time_jump=lambda i, back: jumps.append((i, back)))
    for k in range(3):
        policy.add(0, 100 * S + k * 100 * MS, f"r{k}")
        assert policy.add(1, 100 * S + k * 100 * MS, f"t{k}") == [(f"r{k}", f"t{k}")]
    assert policy.add(0, 100 * S, "late") == []  # 200 ms back: out of order, not a jump
    assert policy.stats.out_of_order == 1 and policy.stats.time_jumps == 0
    policy.add(1, 70 * S, "t_loop")  # 30 s back: a new timeline
    assert jumps == [(1, 30 * S + 200 * MS)] and policy.stats.time_jumps == 1
    assert policy.add(0, 70 * S, "r_loop") == [("r_loop", "t_loop")]
    without = ApproximateTimePolicy(2, queue_size=5, slop_ns=10 * MS)  # no threshold: old stamps dropped forever
    without.add(0, 100 * S, "r"), without.add(1, 100 * S, "t")
    assert without.add(0, 70 * S, "r") == [] and without.add(1, 70 * S, "t") == []


def test_rate_falls_to_zero_once_events_stop():
    meter = RateMeter(window_s=5.0, idle_s=0.5)
    for i in range(20):
        meter.tick(i * 0.1)
    assert meter.rate(1.95) == pytest.approx(10.0, rel=0.1)
    assert meter.rate(2.6) == 0.0  # 0.7 s after the last event, not 5 s
    slow = RateMeter(window_s=10.0, idle_s=0.5)
    for i in range(4):
        slow.tick(i * 2.0)  # a steady 0.5 Hz stream does not flicker to 0 between events
    assert slow.rate(7.0) > 0.0


@pytest.mark.parametrize("encoding, image, match", [
    ("32FC1", np.full((8, 8), np.nan, np.float32), "64 of 64 pixels NaN or inf"),
    ("32FC1", np.where(np.eye(8) > 0, np.inf, 20.0).astype(np.float32), "8 of 64 pixels NaN or inf"),
    ("32FC1", np.full((8, 8), 21.5, np.float32), "constant"),
    ("mono16", np.zeros((8, 8), np.uint16), "constant"),
    ("mono8", np.full((8, 8), 7, np.uint8), "every pixel = 7"),
])
def test_untrustworthy_thermal_is_a_decode_error(encoding, image, match):
    with pytest.raises(ImageDecodeError, match=match):
        as_thermal(image, encoding)


def test_real_thermal_passes_and_nan_is_caught_in_every_path():
    ok = np.linspace(20, 30, 64, dtype=np.float32).reshape(8, 8)
    assert as_thermal(ok, "32FC1") is ok
    bad = ok.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ImageDecodeError, match="NaN or inf"):
        as_rgb(bad, "32FC1")
    with pytest.raises(ValueError, match="1 of 64 pixels NaN or inf"):
        check_thermal(bad)  # the Detector / bag / demo path


def test_non_finite_network_outputs_are_an_error_not_no_detections(random_checkpoint):
    import torch

    from lsi_perception.inference import Detector

    detector = Detector.from_checkpoint(random_checkpoint, device="cpu")
    forward = detector.backend._forward

    def nan_forward(rgb, thermal):
        out = forward(rgb, thermal)
        return {**out, "score_logits": torch.full_like(out["score_logits"], float("nan"))}

    detector.backend._forward = nan_forward
    rgb, thermal = np.zeros((128, 160, 3), np.uint8), np.arange(128 * 160, dtype=np.uint16).reshape(128, 160)
    with pytest.raises(RuntimeError, match="NaN or inf in its scores"):
        detector.predict(rgb, thermal)


def test_parameter_types_are_coerced_or_named_with_an_example():
    assert coerce_parameters({"slop": 1, "thermal_to_rgb_homography": [1, 0, 0, 0, 1, 0, 0, 0, 1]}) == {
        "slop": 1.0, "thermal_to_rgb_homography": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)}
    with pytest.raises(ValueError, match=r"parameter autostart must be a bool \(true or false\), e\.g\. autostart:=true"):
        coerce_parameters({"autostart": 1})
    with pytest.raises(ValueError, match=r"checkpoint must be a string, e\.g\. checkpoint:=/path/to/model\.safetensors"):
        coerce_parameters({"checkpoint": 3})
    assert NodeConfig().time_jump_threshold > NodeConfig().slop


def test_stale_streams_flapping_do_not_relog():
    log = StatusLog(repeat_s=60.0)
    p = Pipeline(output_age_s=None, publishers={"rgb": 1, "thermal": 1})
    lines = []
    for t, stale in enumerate([("rgb", "thermal"), ("rgb",), ("rgb", "thermal"), ("rgb",)]):
        p.stale = {k: k in stale for k in ("rgb", "thermal")}
        lines.append(log.line(p.judge(float(t)), float(t)))
    assert sum(line is not None for line in lines) == 1 and "fastdds_large_frames.xml" in lines[0]
