"""The node's ROS-free parts: NodeConfig vs config/lsi_detector.yaml, the latest-wins queue, stats,
diagnostics summary and the overlay."""
from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest
import yaml

from lsi_perception.node_logic.diagnostics import DIAGNOSTIC_KEYS, OK, WARN, PipelineSnapshot, pipeline_status
from lsi_perception.node_logic.health import HealthEvidence
from lsi_perception.node_logic.node_config import NodeConfig, defaults_as_ros_values, runtime_parameters
from lsi_perception.node_logic.stats import LatencyWindow, RateMeter
from lsi_perception.node_logic.worker_queue import Closed, LatestWinsQueue
from lsi_perception.pipeline.overlay import draw_overlay


def test_params_file_mirrors_node_config(repo_root):
    doc = yaml.safe_load((repo_root / "config" / "lsi_detector.yaml").read_text())
    params = doc["/**"]["ros__parameters"]
    assert params == defaults_as_ros_values()


def test_every_field_has_a_description_and_defaults_validate():
    for f in dataclasses.fields(NodeConfig):
        assert len(f.metadata["description"]) > 15, f.name
    NodeConfig().validate()
    assert {"score_threshold", "nms_iou"} <= runtime_parameters()


@pytest.mark.parametrize("change,match", [
    (dict(score_threshold=1.5), "score_threshold"), (dict(image_transport="theora"), "image_transport"),
    (dict(missing_modality="guess"), "missing_modality"), (dict(device="tpu"), "device"),
    (dict(thermal_to_rgb_homography=[0.0] * 9), "singular"), (dict(thermal_to_rgb_homography=[1.0] * 4), "9 finite"),
    (dict(input_height=128), "input_width"),
])
def test_invalid_config_names_the_field(change, match):
    with pytest.raises(ValueError, match=match):
        NodeConfig().replace(**change)


def test_compressed_transport_topics():
    cfg = NodeConfig().replace(image_transport="compressed")
    assert cfg.input_topics() == ("rgb/image_raw/compressed", "thermal/image_raw/compressed")
    assert cfg.input_topics("/cam/color", "/flir") == ("/cam/color/compressed", "/flir/compressed")
    assert NodeConfig().input_topics("/cam/color", "/flir") == ("/cam/color", "/flir")


def test_latest_wins_queue_drops_oldest_and_wakes_on_close():
    q: LatestWinsQueue[int] = LatestWinsQueue(depth=1)
    assert q.put(1) is None
    assert q.put(2) == 1 and q.dropped == 1
    assert q.get(timeout=0.1) == 2
    assert q.get(timeout=0.01) is None
    got = []

    def consume():
        try:
            q.get()
        except Closed:
            got.append("closed")

    t = threading.Thread(target=consume)
    t.start()
    time.sleep(0.05)
    q.close()
    t.join(2)
    assert got == ["closed"]
    with pytest.raises(Closed):
        q.put(3)


def test_rate_meter_and_latency_window():
    meter = RateMeter(window_s=2.0)
    for i in range(11):
        meter.tick(10.0 + i * 0.1)
    assert meter.rate(11.0) == pytest.approx(10.0)
    assert meter.age(11.5) == pytest.approx(0.5)
    assert meter.rate(20.0) == 0.0
    window = LatencyWindow(size=100)
    assert np.isnan(window.percentiles(50)[0])
    for v in range(1, 101):
        window.add(float(v))
    p50, p95 = window.percentiles(50, 95)
    assert p50 == pytest.approx(50.5) and p95 == pytest.approx(95.05)


def _snapshot(**kw) -> PipelineSnapshot:
    base = dict(state="active", configured=True, rates_hz=dict(rgb=10.0, thermal=10.0, paired=10.0, output=9.0),
                ages_s=dict(rgb=0.05, thermal=0.05), stale=dict(rgb=False, thermal=False),
                received=dict(rgb=12, thermal=11), paired=10, published=8, queue_dropped=1,
                latency_ms=dict(inference=(20.0, 25.0), node_overhead=(1.0, 2.0), end_to_end=(22.0, 30.0)),
                errors=dict(decode=0, alignment=0, inference=0), missing_modality_policy="wait", blanked_pairs=0,
                device="cpu", precision="fp32", model="m.safetensors", sync_implementation="own",
                decoder_implementation="own", evidence=HealthEvidence(active_for_s=10.0, output_age_s=0.1))
    base.update(kw)
    return PipelineSnapshot(**base)


def test_diagnostics_summary_levels_and_keys():
    level, message, values = pipeline_status(_snapshot())
    assert level == OK and tuple(values) == DIAGNOSTIC_KEYS
    assert values["sync_unpaired_rgb"] == "2" and values["inference_ms_p95"] == "25.00"
    assert (values["rgb_received"], values["thermal_received"], values["paired"], values["published"]) == \
        ("12", "11", "10", "8")
    level, message, _ = pipeline_status(_snapshot(stale=dict(rgb=False, thermal=True)))
    assert level == WARN and "thermal stream stale" in message and "wait" in message
    level, message, _ = pipeline_status(_snapshot(stale=dict(rgb=False, thermal=True), missing_modality_policy="blank"))
    assert level == WARN and "blanked" in message


def test_overlay_draws_on_a_copy():
    rgb = np.zeros((64, 80, 3), np.uint8)
    out = draw_overlay(rgb, np.array([[10, 10, 30, 50]], np.float32), np.array([0.9], np.float32), ["person"], fps=12.0)
    assert out.shape == rgb.shape and out.any() and not rgb.any()
    assert draw_overlay(rgb, np.zeros((0, 4)), np.zeros(0), []).shape == rgb.shape


def test_overlay_labels_in_a_crowd_never_cover_one_another():
    """Ten overlapping boxes (a crowd): every label placed is inside the image, clear of the others and of
    the header; the best-scoring box keeps its full label; some labels shrink to the score or drop out."""
    from lsi_perception.pipeline.overlay import layout_labels

    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(20, 120, 10))
    rects = [(int(a), 40, int(a) + 25, 110) for a in x]
    scores = rng.uniform(0.5, 1.0, 10)
    texts = [(f"person {s:.2f}", f"{s:.2f}") for s in scores]
    header = (0, 0, 60, 14)
    placed = layout_labels(rects, scores, texts, (120, 160), 0.35, header)
    boxes_placed = [p[2] for p in placed]
    for k, (_, _, r, _) in enumerate(placed):
        assert 0 <= r[1] and r[3] <= 120 and not (r[0] < header[2] and r[1] < header[3])
        assert not any(r[0] < o[2] and o[0] < r[2] and r[1] < o[3] and o[1] < r[3] for o in boxes_placed[k + 1:])
    best = int(np.argmax(scores))
    assert placed[0][0] == best and placed[0][1] == texts[best][0]
    assert len(placed) < 10 or any(text == texts[i][1] for i, text, _, _ in placed)
    out = draw_overlay(np.zeros((120, 160, 3), np.uint8), np.array(rects, np.float32), scores, ["person"] * 10)
    assert out.any()
