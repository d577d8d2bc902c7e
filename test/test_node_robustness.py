"""The lsi_detector node over DDS: bad inputs, run-time parameters, diagnostics and stale streams."""
from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from lsi_perception.node_logic.diagnostics import DIAGNOSTIC_KEYS, WARN  # noqa: E402
from lsi_perception.ros.harness import image_msg, node_parameters, ns_to_time, running_detector, wait_for  # noqa: E402
from lsi_perception.testing import synthetic_pair  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.usefixtures("ros_module")]
MS = 1_000_000
H, W = 128, 160


def bad_rgb_messages(rgb):
    good = image_msg(rgb, "rgb8", 0)
    yield "decode", Image(height=H, width=W, encoding="yuv422", step=W * 2, data=bytes(H * W * 2))
    yield "decode", Image(height=H, width=W, encoding="rgb8", step=W * 3, data=bytes(good.data)[: W * 3 * (H - 1)])


def test_bad_inputs_are_counted_and_the_next_good_pair_is_processed(random_checkpoint, capfd):
    rgb, thermal = synthetic_pair(H, W, seed=1)
    with running_detector(node_parameters(random_checkpoint), namespace="/bad") as (node, client):
        stamp = 10 * MS
        expected_outputs = 0
        for n_bad, (kind, bad) in enumerate(bad_rgb_messages(rgb), start=1):
            bad.header.stamp = ns_to_time(stamp)
            client.publish_pair(bad, thermal, stamp)
            # latest pair wins: let the bad pair reach the worker before the good one can replace it
            wait_for(lambda k=kind, n=n_bad: node.error_counts[k] >= n)
            stamp += 100 * MS
            client.publish_pair(rgb, thermal, stamp)
            stamp += 100 * MS
            expected_outputs += 1
            client.wait_for_detections(expected_outputs, timeout=30)
        # thermal of another size and no homography
        client.publish_pair(rgb, thermal[: H // 2, : W // 2].copy(), stamp)
        wait_for(lambda: node.error_counts["alignment"] == 1)
        stamp += 100 * MS
        client.publish_pair(rgb, thermal, stamp)
        client.wait_for_detections(expected_outputs + 1, timeout=30)
        errors = node.error_counts
    assert errors == {"decode": 2, "alignment": 1, "inference": 0}
    log = capfd.readouterr().err
    assert "unsupported image encoding 'yuv422'" in log
    assert "shorter than step x height" in log
    assert "thermal_to_rgb_homography is the identity" in log


def test_corrupt_compressed_image(random_checkpoint, capfd):
    import cv2

    rgb, thermal = synthetic_pair(H, W, seed=2)
    png = lambda a: cv2.imencode(".png", a)[1].tobytes()  # noqa: E731
    with running_detector(node_parameters(random_checkpoint, image_transport="compressed"), namespace="/badc", compressed=True) as (node, client):
        corrupt = CompressedImage(header=image_msg(rgb, "rgb8", 5 * MS).header, format="jpeg", data=b"\xff\xd8garbage")
        good_th = CompressedImage(header=corrupt.header, format="png", data=png(thermal))
        client.publish_pair(corrupt, good_th, 5 * MS)
        wait_for(lambda: node.error_counts["decode"] == 1)
        h2 = image_msg(rgb, "rgb8", 105 * MS).header
        client.publish_pair(CompressedImage(header=h2, format="png", data=png(rgb[:, :, ::-1])),
                            CompressedImage(header=h2, format="png", data=png(thermal)), 105 * MS)
        client.wait_for_detections(1, timeout=30)
        assert node.error_counts["decode"] == 1
    assert "not a decodable jpeg or png" in capfd.readouterr().err


def _set_parameters(client, node_fqn: str, params: list[Parameter]):
    cli = client.create_client(SetParameters, f"{node_fqn}/set_parameters")
    assert cli.wait_for_service(timeout_sec=10)
    future = cli.call_async(SetParameters.Request(parameters=[p.to_parameter_msg() for p in params]))
    deadline = time.monotonic() + 10
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.02)
    client.destroy_client(cli)
    return future.result().results


def test_runtime_parameter_change_takes_effect_and_invalid_is_rejected(random_checkpoint):
    rgb, thermal = synthetic_pair(H, W, seed=3)
    with running_detector(node_parameters(random_checkpoint), namespace="/params") as (node, client):
        client.publish_pair(rgb, thermal, 10 * MS)
        before = client.wait_for_detections(1, timeout=30)[0]
        assert len(before.detections) > 0
        assert client.wait_until(lambda: len(client.label_info) == 1, timeout=10)
        assert client.label_info[0].threshold == pytest.approx(node.detector.meta.inference.score_threshold)
        [ok] = _set_parameters(client, "/params/lsi_detector", [Parameter("score_threshold", value=0.99)])
        assert ok.successful
        # the latched label_info is republished with the threshold now in use
        assert client.wait_until(lambda: client.label_info[-1].threshold == pytest.approx(0.99), timeout=10)
        client.publish_pair(rgb, thermal, 110 * MS)
        after = client.wait_for_detections(2, timeout=30)[1]
        assert len(after.detections) == 0  # an untrained head never scores 0.99
        [bad_range] = _set_parameters(client, "/params/lsi_detector", [Parameter("nms_iou", value=1.5)])
        assert not bad_range.successful and bad_range.reason
        [bad_choice] = _set_parameters(client, "/params/lsi_detector", [Parameter("missing_modality", value="guess")])
        assert not bad_choice.successful and "not active" in bad_choice.reason
        [frozen] = _set_parameters(client, "/params/lsi_detector", [Parameter("slop", value=0.1)])
        assert not frozen.successful and "slop" in frozen.reason
        assert node.get_parameter("nms_iou").value == -1.0


def test_diagnostics_keys_and_stale_stream_warn(random_checkpoint):
    rgb, thermal = synthetic_pair(H, W, seed=4)
    p = node_parameters(random_checkpoint, stale_timeout=0.4, diagnostics_period=0.2, missing_modality="blank")
    with running_detector(p, namespace="/diag") as (node, client):
        for i in range(3):
            client.publish_pair(rgb, thermal, (i + 1) * 100 * MS)
            client.wait_for_detections(i + 1, timeout=30)
        assert client.wait_until(lambda: any(s.values and dict((k.key, k.value) for k in s.values)["paired_rate_hz"] != "0.00"
                                             for s in client.diagnostics_for("diag/lsi_detector")), timeout=10)
        status = client.diagnostics_for("diag/lsi_detector")[-1]
        assert tuple(kv.key for kv in status.values) == DIAGNOSTIC_KEYS
        # thermal camera unplugged: RGB keeps coming
        deadline = time.monotonic() + 30
        stamp = 1000 * MS
        warned = None
        while time.monotonic() < deadline and warned is None:
            client.rgb_pub.publish(image_msg(rgb, "rgb8", stamp))
            stamp += 100 * MS
            time.sleep(0.1)
            warned = next((s for s in client.diagnostics_for("diag/lsi_detector")
                           if s.level == bytes([WARN]) and "thermal" in s.message), None)
        assert warned is not None, "no WARN about the stale thermal stream"
        values = {kv.key: kv.value for kv in warned.values}
        assert values["thermal_stale"] == "true" and values["rgb_stale"] == "false"
        # blank policy: RGB-only frames are still detected
        deadline = time.monotonic() + 30
        while len(client.detections) <= 3 and time.monotonic() < deadline:
            client.rgb_pub.publish(image_msg(rgb, "rgb8", stamp))
            stamp += 100 * MS
            client.wait_until(lambda: len(client.detections) > 3, timeout=0.5)
        assert len(client.detections) > 3, f"no RGB-only detections; node errors {node.error_counts}"
    assert np.isfinite(float(values["inference_ms_p50"]))
