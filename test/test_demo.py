"""``lsi demo`` end to end in a tiny setting (CI smoke test): the real node over DDS, a real player process,
and outputs whose boxes are the model's own (checked against Detector.predict on the same images)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lsi_perception.bag.from_dataset import list_frames
from lsi_perception.bag.reader import BagReader
from lsi_perception.demo import DemoConfig, run_demo
from lsi_perception.pipeline.detection_codec import read_detection_array
from lsi_perception.pipeline.stamps import stamp_to_ns
from lsi_perception.testing import make_random_checkpoint


def test_missing_shipped_model_is_a_clear_error_that_says_how_to_train(tmp_path, monkeypatch):
    monkeypatch.setattr("lsi_perception.demo.default_checkpoint_path", lambda: tmp_path / "lsi_pvt_b0_synthetic.safetensors")
    with pytest.raises(FileNotFoundError, match="lsi train --config config/train_synthetic_warm_mid.yaml"):
        run_demo(DemoConfig(out_dir=tmp_path / "out"))
    assert not (tmp_path / "out" / "summary.json").exists()


@pytest.mark.ros
def test_tiny_demo_runs_the_node_and_writes_real_detections(tmp_path):
    pytest.importorskip("rclpy")
    from PIL import Image

    from lsi_perception.data.images import read_rgb, read_thermal
    from lsi_perception.inference import Detector

    checkpoint = make_random_checkpoint(tmp_path / "rand.safetensors", trained_on="synthetic")
    out = tmp_path / "demo_out"
    proc = subprocess.run([sys.executable, "-m", "lsi_perception.cli", "demo", "--tiny", "--out", str(out),
                           "--checkpoint", str(checkpoint), "--device", "cpu"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "MR reasonable" in proc.stdout and str(out / "detections.gif") in proc.stdout
    # a model trained only on generated frames: one WARN from the demo, one from the node (issue 22)
    warning = "rand.safetensors was trained only on generated (synthetic) RGB-thermal frames"
    assert proc.stdout.count("WARN:") == 1 and warning in proc.stdout, proc.stdout[-3000:]
    assert (out / "lsi_detector.log").read_text().count(warning) == 1

    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs_in"] == 6 and summary["frames"] == {"day": 3, "night": 3}
    assert 0 < summary["arrays_out"] <= 6
    assert summary["latency_ms_p50"] > 0 and summary["latency_ms_p95"] >= summary["latency_ms_p50"]
    assert set(summary["mr_all_settings"]) >= {"reasonable", "all"}

    with BagReader(out / "detections_bag") as reader:
        arrays = {stamp_to_ns(m.msg.header.stamp): read_detection_array(m.msg) for m in reader.messages()}
    assert len(arrays) == summary["arrays_out"]
    assert sum(len(a) for a in arrays.values()) == summary["detections_total"]

    # The recorded boxes are the model's: the same checkpoint on the same images gives the same boxes.
    with BagReader(out / "input_bag") as reader:
        rgb_stamps = [m.timestamp for m in reader.messages(["/camera/rgb/image_raw"])]
    detector = Detector.from_checkpoint(checkpoint, device="cpu")
    frames = list_frames(out / "data")
    checked = 0
    for stamp, frame in zip(rgb_stamps, frames):
        if stamp in arrays:
            expected = detector.predict(read_rgb(frame.rgb_path), read_thermal(frame.thermal_path))
            np.testing.assert_allclose(arrays[stamp].boxes, expected.boxes, atol=1e-2)
            np.testing.assert_allclose(arrays[stamp].scores, expected.scores, atol=1e-4)
            checked += 1
    assert checked == len(arrays)

    gif = Image.open(out / "detections.gif")
    assert gif.n_frames == 6 and gif.size == (2 * 160, 128)
    assert Image.open(out / "contact_sheet.png").size[0] == 2 * 2 * 160


def test_the_demo_world_is_the_default_one_or_a_training_configs():
    from lsi_perception.demo import DemoConfig

    plain = DemoConfig(frames_per_drive=3, width=160, height=128).synthetic_config()
    assert plain.physics.person_day_delta_k == (-3.0, 4.0) and (plain.frames, plain.width, plain.seed) == (6, 160, 7)
    shipped = DemoConfig(frames_per_drive=3, width=160, height=128, world="train_synthetic_warm_day.yaml").synthetic_config()
    assert shipped.physics.person_day_delta_k == (4.0, 10.0) and shipped.sensor_jpeg_quality == (50, 90)
    assert (shipped.frames, shipped.height, shipped.test_fraction, shipped.seed) == (6, 128, 0.0, 7)
    with pytest.raises(FileNotFoundError, match="no such training config"):
        DemoConfig(world="nope.yaml").synthetic_config()
