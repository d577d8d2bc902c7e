"""Entry point of the ``lsi_detector`` executable (``ros2 run lsi_perception lsi_detector``).

Starts the lifecycle node and, with ``autostart`` (default true), configures and activates it so no
lifecycle manager is needed. Ctrl-C and SIGTERM end it cleanly (no traceback): the inference thread is
stopped and the model released before the ROS context goes down.
"""
from __future__ import annotations

import signal
import sys

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor


class _Terminate(Exception):
    """Raised from the SIGTERM handler to leave spin() the same way Ctrl-C does."""


_terminating = False


def _on_sigterm(signum, frame) -> None:
    """First SIGTERM: leave spin(); later ones (rclpy may forward the same signal again): ignored."""
    global _terminating
    if not _terminating:
        _terminating = True
        raise _Terminate()


def main(args: list[str] | None = None) -> int:
    from lsi_perception.cpu_threads import prefer_passive_omp_wait

    prefer_passive_omp_wait()  # before the node imports torch: no spinning OpenMP threads on shared cores
    # Before rclpy.init: rclpy's own signal handler wakes the executor and then chains to this one.
    signal.signal(signal.SIGTERM, _on_sigterm)
    rclpy.init(args=args)
    node = None
    status = 0
    try:
        from lsi_perception.ros.node import LsiDetectorNode

        node = LsiDetectorNode()
        if node.config.autostart and not _autostart(node):
            return 1
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException, _Terminate):
        pass
    except ValueError as exc:  # invalid parameters at start-up
        print(f"lsi_detector: error: {exc}", file=sys.stderr)
        status = 2
    finally:
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()
    return status


def _autostart(node) -> bool:
    """configure + activate; False (after logging why) if either fails."""
    from rclpy.lifecycle import TransitionCallbackReturn

    for name, trigger in (("configure", node.trigger_configure), ("activate", node.trigger_activate)):
        if trigger() != TransitionCallbackReturn.SUCCESS:
            node.get_logger().fatal(f"autostart: {name} failed (see the error above); exiting")
            return False
    return True


if __name__ == "__main__":
    sys.exit(main())
