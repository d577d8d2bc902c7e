"""The lsi_detector node over DDS never goes quiet while it says OK (issue 13): time jumps, non-finite or
constant thermal, diagnostics that name why nothing is published, an inference thread that survives
any exception and goes to error processing when it keeps failing, typed parameter errors."""
from __future__ import annotations

import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.parameter import Parameter  # noqa: E402

from lsi_perception.node_logic.diagnostics import ERROR, OK, WARN  # noqa: E402
from lsi_perception.node_logic.health import MAX_CONSECUTIVE_FAILURES  # noqa: E402
from lsi_perception.pipeline.stamps import stamp_to_ns  # noqa: E402
from lsi_perception.ros.harness import node_parameters, running_detector, wait_for  # noqa: E402
from lsi_perception.testing import synthetic_pair  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.usefixtures("ros_module")]
MS = 1_000_000
S = 1_000_000_000
H, W = 128, 160


def params(random_checkpoint, **extra):
    return node_parameters(random_checkpoint, **{"diagnostics_period": 0.1, "stale_timeout": 0.5, **extra})


def values_of(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def wait_for_status(client, node_name: str, predicate, timeout: float = 20.0):
    """The first diagnostics status of ``node_name`` published from now on that satisfies ``predicate``."""
    start = len(client.diagnostics_for(node_name))
    found = []

    def check() -> bool:
        found.extend(s for s in client.diagnostics_for(node_name)[start:] if predicate(s))
        return bool(found)

    assert client.wait_until(check, timeout), (
        f"no matching status; last: {[(s.level, s.message) for s in client.diagnostics_for(node_name)[-3:]]}")
    return found[0]


def answered_stamps(client) -> list[int]:
    return [stamp_to_ns(m.header.stamp) for _, m in list(client.detections)]


def test_time_jump_back_resets_pairing_and_detection_resumes_within_one_pair(random_checkpoint, capfd):
    rgb, thermal = synthetic_pair(H, W, seed=1)
    with running_detector(params(random_checkpoint), namespace="/jump") as (node, client):
        for i in range(3):
            client.publish_pair(rgb, thermal, 100 * S + i * 100 * MS)
            client.wait_for_detections(i + 1, timeout=30)
        # the bag loops: stamps 30 s in the past
        past = 70 * S
        client.publish_pair(rgb, thermal, past)
        client.wait_for_detections(4, timeout=30)
        assert answered_stamps(client)[3] == past
        for i in range(1, 4):  # and it keeps detecting on the new timeline
            client.publish_pair(rgb, thermal, past + i * 100 * MS)
            client.wait_for_detections(4 + i, timeout=30)
        # a small step back is out of order, not a jump: dropped and counted
        client.publish_pair(rgb, thermal, past + 150 * MS)
        status = wait_for_status(client, "jump/lsi_detector", lambda s: values_of(s)["sync_out_of_order"] != "0")
        values = values_of(status)
        assert values["time_jumps"] == "1"
        assert int(values["sync_out_of_order"]) >= 1
        assert node.error_counts == {"decode": 0, "alignment": 0, "inference": 0}
    log = capfd.readouterr().err
    assert log.count("stamps jumped back 30.") == 1 and "pairing reset" in log


@pytest.mark.parametrize("bad", ["nan", "inf", "constant"])
def test_non_finite_or_constant_thermal_is_a_decode_error_not_no_pedestrians(random_checkpoint, bad, capfd):
    rgb, thermal = synthetic_pair(H, W, seed=2, thermal_dtype=np.float32)
    broken = {"nan": np.full((H, W), np.nan, np.float32), "inf": np.where(thermal > 0.3, np.inf, thermal).astype(np.float32),
              "constant": np.full((H, W), 27.5, np.float32)}[bad]
    with running_detector(params(random_checkpoint), namespace=f"/th_{bad}") as (node, client):
        client.publish_pair(rgb, broken, 100 * MS)
        wait_for(lambda: node.error_counts["decode"] == 1)
        status = wait_for_status(client, f"th_{bad}/lsi_detector", lambda s: s.level == bytes([ERROR]))
        assert "decode errors" in status.message
        client.publish_pair(rgb, thermal, 200 * MS)  # a good pair is answered, the bad one never was
        client.wait_for_detections(1, timeout=30)
        assert answered_stamps(client) == [200 * MS]
    log = capfd.readouterr().err
    assert ("is constant" if bad == "constant" else "NaN or inf") in log


def test_diagnostics_name_unpaired_streams_and_their_offset(random_checkpoint, capfd):
    rgb, thermal = synthetic_pair(H, W, seed=3)
    with running_detector(params(random_checkpoint), namespace="/offset") as (node, client):
        deadline = time.monotonic() + 20
        stamp, status = 100 * S, None
        while status is None and time.monotonic() < deadline:
            client.publish_pair(rgb, thermal, stamp, thermal_stamp_ns=stamp - 5 * S)  # thermal 5 s behind
            stamp += 100 * MS
            time.sleep(0.1)
            status = next((s for s in client.diagnostics_for("offset/lsi_detector")
                           if s.level == bytes([ERROR]) and "never pair" in s.message), None)
        assert status is not None, "no ERROR about streams that never pair"
        assert "+5.000 s" in status.message and values_of(status)["stamp_offset_s"] == "5.000"
        assert len(client.detections) == 0
    assert "never pair" in capfd.readouterr().err  # logged, not only in diagnostics


def test_publishers_found_but_nothing_received_warns_idle_or_lost_in_transport(random_checkpoint, capfd):
    with running_detector(params(random_checkpoint), namespace="/silent") as (node, client):
        status = wait_for_status(client, "silent/lsi_detector", lambda s: s.level == bytes([WARN]))
        values = values_of(status)
        assert values["rgb_publishers"] == "1" and values["thermal_publishers"] == "1"
        assert "publisher(s) matched" in status.message and "fastdds_large_frames.xml" in status.message
        assert "cannot tell an idle publisher" in status.message
        time.sleep(1.0)  # several more periods with the same cause
    log = capfd.readouterr().err
    assert log.count("fastdds_large_frames.xml") == 1  # logged once, throttled


def test_output_rate_falls_to_zero_promptly_and_ok_only_while_answering(random_checkpoint):
    rgb, thermal = synthetic_pair(H, W, seed=4)
    with running_detector(params(random_checkpoint, stale_timeout=0.3), namespace="/rate") as (node, client):
        for i in range(6):
            client.publish_pair(rgb, thermal, 100 * MS * (i + 1))
            client.wait_for_detections(i + 1, timeout=30)
            time.sleep(0.05)
        ok = wait_for_status(client, "rate/lsi_detector", lambda s: s.level == bytes([OK]))
        assert ok.message == "detecting"
        stopped = time.monotonic()
        quiet = wait_for_status(client, "rate/lsi_detector", lambda s: values_of(s)["output_rate_hz"] == "0.00")
        assert quiet.level != bytes([OK])
        assert time.monotonic() - stopped < 3.0  # was ~5 s (the whole rate window)


def test_inference_thread_survives_unexpected_exceptions_then_goes_to_error_processing(random_checkpoint, capfd):
    rgb, thermal = synthetic_pair(H, W, seed=5)
    with running_detector(params(random_checkpoint), namespace="/crash") as (node, client):
        real_predict = node.detector.predict
        failures = {"left": 1}

        def flaky_predict(*args, **kwargs):
            if failures["left"] > 0:
                failures["left"] -= 1
                raise KeyError("simulated bug")
            return real_predict(*args, **kwargs)

        node.detector.predict = flaky_predict
        client.publish_pair(rgb, thermal, 100 * MS)
        wait_for(lambda: node.error_counts["inference"] == 1)
        client.publish_pair(rgb, thermal, 200 * MS)
        client.wait_for_detections(1, timeout=30)  # the thread is still alive
        # now it fails on every pair
        failures["left"] = 10**9
        for i in range(MAX_CONSECUTIVE_FAILURES):
            client.publish_pair(rgb, thermal, (300 + 100 * i) * MS)
            wait_for(lambda n=i: node.error_counts["inference"] >= 2 + n)
        status = wait_for_status(client, "crash/lsi_detector", lambda s: s.level == bytes([ERROR])
                                 and "in a row" in s.message)
        wait_for(lambda: node._state_machine.current_state[1] == "unconfigured", timeout=10)
        after = wait_for_status(client, "crash/lsi_detector", lambda s: values_of(s)["state"] == "unconfigured")
        assert after.level == bytes([ERROR]) and "in a row" in after.message
    log = capfd.readouterr().err
    assert log.count("Traceback") == 1 and "KeyError: 'simulated bug'" in log
    assert "error processing" in log and status is not None


def test_parameter_type_errors_name_the_parameter_type_and_an_example(random_checkpoint):
    from lsi_perception.ros.node import LsiDetectorNode

    node = LsiDetectorNode("typed", parameter_overrides=[Parameter("slop", value=1)])  # int for a double: fine
    assert node.config.slop == 1.0
    [result] = node.set_parameters([Parameter("score_threshold", value="high")])
    assert not result.successful
    assert "score_threshold" in result.reason and "a double" in result.reason and "score_threshold:=" in result.reason
    node.destroy_node()
    with pytest.raises(ValueError, match=r"parameter queue_size must be an integer, e\.g\. queue_size:=10; got 2\.5"):
        LsiDetectorNode("typed2", parameter_overrides=[Parameter("queue_size", value=2.5)])
