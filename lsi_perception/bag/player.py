"""``lsi bag play``: publish a bag's topics through rclpy with ``/clock``, for machines without ``ros2 bag play``.

Messages go out as the bag stored them (CDR bytes, published raw: no conversion, no copy of fields), at
their bag-time spacing divided by ``rate``. Before each message, and at ``clock_hz`` while waiting,
``/clock`` carries the bag time, so nodes running with ``use_sim_time:=true`` see the recording's time
(``ros2 bag play --clock`` does the same). Every topic, ``/clock`` included, is published reliable and
keep-last: a reliable publisher serves both reliable subscribers and best-effort ones (sensor-data QoS,
rclpy's TimeSource), where a best-effort one would leave reliable subscribers deaf.
"""
from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lsi_perception.pipeline.stamps import NS_PER_S

from .reader import BagReader
from .typestore import CLOCK


@dataclass
class PlayConfig:
    """How to play a bag (defaults: real time, once, from the start, with /clock)."""

    rate: float = 1.0
    loop: bool = False
    start_s: float = 0.0  # seconds after the bag's first message
    clock: bool = True
    clock_hz: float = 40.0  # /clock publications per second of wall time while waiting between messages
    topics: tuple[str, ...] | None = None  # None = every topic
    qos_depth: int = 10
    wait_for_subscribers_s: float = 0.0  # wait up to this long for every image topic to have a subscriber
    drain_s: float = 0.5  # keep the publishers alive this long after the last message (reliable delivery)
    salvage: bool = False

    def validate(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"rate={self.rate} must be > 0")
        if self.start_s < 0:
            raise ValueError(f"start={self.start_s} must be >= 0 seconds")
        if self.clock_hz <= 0:
            raise ValueError(f"clock_hz={self.clock_hz} must be > 0")


@dataclass
class PlayStats:
    published: dict[str, int] = field(default_factory=dict)
    clock_messages: int = 0
    loops: int = 0
    wall_s: float = 0.0
    bag_s: float = 0.0


def message_class(msgtype: str):
    """``sensor_msgs/msg/Image`` -> the rclpy message class (needs the interface package installed)."""
    package, _, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{package}.msg"), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot publish {msgtype}: the {package} Python interface package is not installed "
                         f"in this environment ({exc})") from exc


class BagPlayer:
    """Publishes one bag on a given rclpy node. ``play()`` blocks until the bag (or the loop) ends."""

    def __init__(self, node, bag: str | Path, cfg: PlayConfig | None = None,
                 on_published: Callable[[str, int], None] | None = None) -> None:
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

        self.cfg = cfg or PlayConfig()
        self.cfg.validate()
        self.node = node
        self.bag = Path(bag)
        self._on_published = on_published
        self.stats = PlayStats()
        with BagReader(self.bag, salvage=self.cfg.salvage) as reader:
            self.topics = {t: typ for t, typ in reader.topics.items()
                            if self.cfg.topics is None or t in self.cfg.topics}
        if not self.topics:
            raise ValueError(f"bag {self.bag} has none of the topics {list(self.cfg.topics or [])} to play")
        data_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=self.cfg.qos_depth,
                              reliability=ReliabilityPolicy.RELIABLE)
        self._publishers = {t: node.create_publisher(message_class(typ), t, data_qos) for t, typ in self.topics.items()}
        self._clock_pub = None
        if self.cfg.clock:
            clock_qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
            self._clock_pub = node.create_publisher(message_class(CLOCK), "/clock", clock_qos)

    # ---------------------------------------------------------------------------------------------
    def wait_for_subscribers(self, topics: Iterable[str], timeout_s: float) -> list[str]:
        """Wait until each topic has a subscriber; returns the topics still without one at the timeout."""
        deadline = time.monotonic() + timeout_s
        missing = [t for t in topics if t in self._publishers]
        while missing and time.monotonic() < deadline:
            missing = [t for t in missing if self._publishers[t].get_subscription_count() == 0]
            if missing:
                time.sleep(0.05)
        return missing

    def _publish_clock(self, bag_ns: int) -> None:
        if self._clock_pub is None:
            return
        from rosgraph_msgs.msg import Clock

        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = divmod(int(bag_ns), NS_PER_S)
        self._clock_pub.publish(msg)
        self.stats.clock_messages += 1

    def _wait_until(self, wall_target: float, bag_at: Callable[[float], int]) -> None:
        """Sleep until ``wall_target`` (monotonic s), publishing /clock at ``clock_hz`` on the way."""
        period = 1.0 / self.cfg.clock_hz
        while True:
            remaining = wall_target - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, period))
            if time.monotonic() < wall_target:
                self._publish_clock(bag_at(time.monotonic()))

    def play(self, should_stop: Callable[[], bool] = lambda: False) -> PlayStats:
        wall_start = time.monotonic()
        while True:
            self._play_once(should_stop)
            self.stats.loops += 1
            if not self.cfg.loop or should_stop():
                break
        time.sleep(self.cfg.drain_s)
        self.stats.wall_s = time.monotonic() - wall_start
        return self.stats

    def _play_once(self, should_stop: Callable[[], bool]) -> None:
        with BagReader(self.bag, salvage=self.cfg.salvage) as reader:
            first_ns = reader.start_time + round(self.cfg.start_s * NS_PER_S)
            wall0 = time.monotonic()

            def bag_at(wall: float) -> int:
                return first_ns + round((wall - wall0) * self.cfg.rate * NS_PER_S)

            last_ns = first_ns
            for topic, _, timestamp, data in reader.raw_messages(self.topics, start=first_ns):
                if should_stop():
                    return
                self._wait_until(wall0 + (timestamp - first_ns) / NS_PER_S / self.cfg.rate, bag_at)
                self._publish_clock(timestamp)
                self._publishers[topic].publish(bytes(data))
                self.stats.published[topic] = self.stats.published.get(topic, 0) + 1
                last_ns = timestamp
                if self._on_published is not None:
                    self._on_published(topic, timestamp)
            self.stats.bag_s += (last_ns - first_ns) / NS_PER_S


def run_player(bag: str | Path, cfg: PlayConfig, node_name: str = "lsi_bag_player") -> PlayStats:
    """Init rclpy, play ``bag`` on a fresh node, shut down; Ctrl-C stops playback cleanly."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init()
    try:
        node = rclpy.create_node(node_name)
        player = BagPlayer(node, bag, cfg)
        if cfg.wait_for_subscribers_s > 0:
            image_topics = [t for t, typ in player.topics.items() if typ.startswith("sensor_msgs/msg/")]
            missing = player.wait_for_subscribers(image_topics, cfg.wait_for_subscribers_s)
            if missing:
                node.get_logger().warning(f"no subscriber on {missing} after {cfg.wait_for_subscribers_s:.0f} s; playing anyway")
        try:
            return player.play(should_stop=lambda: not rclpy.ok())
        except (KeyboardInterrupt, ExternalShutdownException):
            return player.stats
        except Exception:
            if rclpy.ok():
                raise
            return player.stats  # SIGINT/SIGTERM shut the context down while a message was being published
        finally:
            node.destroy_node()
    finally:
        rclpy.try_shutdown()
