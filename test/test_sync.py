"""ApproximateTimePolicy (lsi_perception/pipeline/sync.py), without ROS: pairing, slop, queues, order."""
from __future__ import annotations

import random
import threading

import pytest

from lsi_perception.pipeline.sync import ApproximateTimePolicy, pair_offline

MS = 1_000_000


def test_pairs_within_slop_and_skips_unmatched():
    policy = ApproximateTimePolicy(2, queue_size=10, slop_ns=20 * MS)
    assert policy.add(0, 100 * MS, "r100") == []
    assert policy.add(1, 112 * MS, "t112") == [("r100", "t112")]
    assert policy.add(0, 200 * MS, "r200") == []
    assert policy.add(1, 230 * MS, "t230") == []  # 30 ms apart: beyond the slop
    assert policy.queued() == [1, 1]
    assert policy.stats.emitted == 1


def test_picks_nearest_partner_and_output_is_in_topic_order():
    policy = ApproximateTimePolicy(2, queue_size=10, slop_ns=50 * MS)
    policy.add(1, 90 * MS, "t90")
    policy.add(1, 104 * MS, "t104")
    assert policy.add(0, 100 * MS, "r100") == [("r100", "t104")]


def test_three_topics_need_all_within_slop():
    policy = ApproximateTimePolicy(3, queue_size=10, slop_ns=10 * MS)
    policy.add(0, 100 * MS, "a")
    policy.add(1, 108 * MS, "b")
    assert policy.add(2, 92 * MS, "c_far") == []  # within 10 ms of a but 16 ms from b
    assert policy.add(2, 101 * MS, "c") == [("a", "b", "c")]


def test_queue_size_evicts_oldest_and_counts_it():
    policy = ApproximateTimePolicy(2, queue_size=2, slop_ns=1 * MS)
    for i in range(4):
        policy.add(0, i * 100 * MS, f"r{i}")
    assert policy.queued() == [2, 0]
    assert policy.stats.evicted == 2
    assert policy.add(1, 0, "t0") == []  # its partner was evicted
    assert policy.add(1, 300 * MS, "t3") == [("r3", "t3")]


def test_same_stamp_replaces_and_out_of_order_is_dropped():
    policy = ApproximateTimePolicy(2, queue_size=5, slop_ns=5 * MS)
    policy.add(0, 100 * MS, "old")
    policy.add(0, 100 * MS, "new")
    assert policy.add(1, 101 * MS, "t") == [("new", "t")]
    assert policy.add(0, 50 * MS, "late") == []  # older than an emitted pair on this topic
    assert policy.stats.out_of_order == 1
    assert policy.queued() == [0, 0]


def test_offline_pairing_with_jitter_matches_every_true_pair():
    rng = random.Random(3)
    rgb = [(i * 100 * MS + rng.randint(-10, 10) * MS, ("rgb", i)) for i in range(30)]
    thermal = [(i * 100 * MS + rng.randint(-10, 10) * MS, ("th", i)) for i in range(30)]
    rgb += [(i * 100 * MS + 50 * MS, ("rgb", "single")) for i in (3, 17)]  # unmatched singles
    thermal += [(i * 100 * MS + 50 * MS, ("th", "single")) for i in (8,)]
    rgb.sort()
    thermal.sort()
    pairs = pair_offline([rgb, thermal], queue_size=10, slop_ns=25 * MS)
    assert [(r[1], t[1]) for r, t in pairs] == [(i, i) for i in range(30)]


def test_thread_safe_under_concurrent_adds():
    policy = ApproximateTimePolicy(2, queue_size=1000, slop_ns=0)
    n = 500

    def feed(index: int) -> None:
        for i in range(n):
            policy.add(index, i, i)

    threads = [threading.Thread(target=feed, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Exact stamps: every stamp pairs unless one side raced past it (then it is out of order on the other).
    assert policy.stats.emitted + max(policy.queued()) + policy.stats.out_of_order >= n // 2
    assert policy.stats.received == [n, n]


@pytest.mark.parametrize("kwargs", [dict(num_topics=1, queue_size=1, slop_ns=0),
                                    dict(num_topics=2, queue_size=0, slop_ns=0),
                                    dict(num_topics=2, queue_size=1, slop_ns=-1)])
def test_invalid_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        ApproximateTimePolicy(**kwargs)
