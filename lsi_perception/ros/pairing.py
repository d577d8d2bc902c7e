"""Subscribe to the RGB and thermal topics and pair them by approximate time.

Uses message_filters' ``ApproximateTimeSynchronizer`` when it imports, else ``sync.ApproximateTimePolicy``
(the same policy). Either way every message also reaches ``on_message(index, msg)`` first (rates,
staleness, single-modality fallback) and each pair reaches ``on_pair(rgb_msg, thermal_msg)``.
Subscriptions use the given QoS (sensor data by default) and accept user overrides through
``QoSOverridingOptions`` (parameters ``qos_overrides.<topic>.subscription.<policy>``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions

from lsi_perception.pipeline.stamps import stamp_to_ns
from lsi_perception.pipeline.sync import ApproximateTimePolicy

try:  # pragma: no cover - depends on the ROS installation
    import message_filters

    IMPLEMENTATION = "message_filters.ApproximateTimeSynchronizer"
except ImportError:
    message_filters = None
    IMPLEMENTATION = "lsi_perception.pipeline.sync.ApproximateTimePolicy (message_filters not installed)"


class PairedSubscriptions:
    """Two subscriptions (index 0 = RGB, 1 = thermal) feeding an approximate-time synchronizer."""

    def __init__(self, node: Node, msg_type: type, topics: tuple[str, str], qos: QoSProfile, queue_size: int,
                 slop_s: float, on_message: Callable[[int, Any], None], on_pair: Callable[[Any, Any], None],
                 time_jump_threshold: float | None = None,
                 on_time_jump: Callable[[int, int], Any] | None = None) -> None:
        """``time_jump_threshold`` (s): stamps going back further than this reset the pairing and call
        ``on_time_jump(index, back_ns)`` (own policy only; message_filters' Python synchronizer never
        drops old stamps, so it needs no reset)."""
        self._node = node
        self.topics = tuple(node.resolve_topic_name(t) for t in topics)
        self._on_message = on_message
        self._on_pair = on_pair
        self._subscriptions = []
        self.policy: ApproximateTimePolicy | None = None
        overrides = QoSOverridingOptions.with_default_policies()
        if message_filters is not None:
            filters = []
            for index, topic in enumerate(topics):
                f = message_filters.Subscriber(node, msg_type, topic, qos_profile=qos, qos_overriding_options=overrides)
                f.registerCallback(lambda msg, i=index: self._on_message(i, msg))
                self._subscriptions.append(f.sub)
                filters.append(f)
            self._sync = message_filters.ApproximateTimeSynchronizer(filters, queue_size, slop_s)
            self._sync.registerCallback(self._on_pair)
        else:
            self.policy = ApproximateTimePolicy(
                2, queue_size, round(slop_s * 1e9), callback=self._on_pair, on_time_jump=on_time_jump,
                jump_back_ns=round(time_jump_threshold * 1e9) if time_jump_threshold else None)
            for index, topic in enumerate(topics):
                sub = node.create_subscription(msg_type, topic, lambda msg, i=index: self._receive(i, msg), qos,
                                               qos_overriding_options=overrides)
                self._subscriptions.append(sub)

    def _receive(self, index: int, msg: Any) -> None:
        self._on_message(index, msg)
        self.policy.add(index, stamp_to_ns(msg.header.stamp), msg)

    def destroy(self) -> None:
        for sub in self._subscriptions:
            self._node.destroy_subscription(sub)
        self._subscriptions.clear()
