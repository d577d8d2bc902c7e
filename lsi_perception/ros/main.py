"""Entry point of the ``lsi_detector`` executable (``ros2 run lsi_perception lsi_detector``).

Starts the lifecycle node and, with ``autostart`` (default true), configures and activates it so no
lifecycle manager is needed. Before the ROS context exists it selects the package's Fast DDS profile for
large frames unless a DDS configuration is already chosen (``lsi_perception.dds``), removes the Fast DDS
shared-memory segments that dead processes left in /dev/shm (``lsi_perception.dds_shm``), and logs both.

Signals: the first SIGINT or SIGTERM ends it cleanly with exit code 0 (no traceback), also while the model
is still loading: the inference thread is stopped and the model released before the ROS context goes down.
Later ones are ignored until the process has exited: ``ros2 launch`` sends its own SIGINT right after the
terminal's (or a container's process-group signal), and a signal arriving while Python finalizes would
otherwise kill the process (exit -2, reported by launch as a crash).
"""
from __future__ import annotations

import os
import signal
import sys

from lsi_perception.child_processes import exit_with_parent
from lsi_perception.dds import use_large_frames_profile

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Terminate(Exception):
    """Raised from the signal handler to leave spin() (or start-up) the same way for SIGINT and SIGTERM."""


_signals_received = 0


def _on_signal(signum, frame) -> None:
    """First SIGINT/SIGTERM: leave what is running; later ones: ignored, so shutdown runs to its end."""
    global _signals_received
    _signals_received += 1
    if _signals_received == 1:
        raise _Terminate()


def _ignore_stop_signals() -> None:
    """From here on SIGINT/SIGTERM do nothing, at the OS level: Python resets its own handlers to the default
    (terminate) while it finalizes, but leaves ignored signals ignored."""
    for signum in _STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def main(args: list[str] | None = None) -> int:
    from lsi_perception.cpu_threads import prefer_passive_omp_wait

    prefer_passive_omp_wait()  # before the node imports torch: no spinning OpenMP threads on shared cores
    # Before rclpy.init: rclpy's own handler wakes the executor, then chains to this one.
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _on_signal)
    try:
        exit_with_parent()
    except _Terminate:  # the parent was already gone
        return 0
    dds = use_large_frames_profile()  # must precede the first DDS participant (rclpy.init)
    reclaimed = _reclaim_dead_shared_memory()
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    node = None
    executor = None
    status = 0
    try:
        rclpy.init(args=args)
        # The executor exists before the node's slow start-up: a stop signal arriving then finds it whole
        # (rclpy's signal thread wakes every executor; one half-built by an interrupted constructor crashed
        # Jazzy with SIGSEGV once in CI).
        executor = SingleThreadedExecutor()
        from lsi_perception.ros.node import LsiDetectorNode

        node = LsiDetectorNode()
        node.get_logger().info(dds.description)
        if reclaimed:
            node.get_logger().info(reclaimed)
        if node.config.autostart and not _autostart(node):
            # A signal during configure/activate fails the transition: that is a requested stop, not an error.
            return 0 if _signals_received else 1
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException, _Terminate):
        pass
    except ValueError as exc:  # invalid parameters at start-up
        print(f"lsi_detector: error: {exc}", file=sys.stderr)
        status = 2
    finally:
        _ignore_stop_signals()
        if executor is not None:
            executor.shutdown()  # before the node and the context go: nothing waits on them any more
        if node is not None:
            node.stop()
            node.destroy_node()
        rclpy.try_shutdown()
        _ignore_stop_signals()  # rclpy's shutdown put back the handler it had replaced
    return status


def _reclaim_dead_shared_memory() -> str | None:
    """Remove the Fast DDS shared-memory segments of dead processes (not with another RMW); the log line."""
    if os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp").startswith("rmw_fastrtps"):
        from lsi_perception.dds_shm import reclaim_orphaned_files

        return reclaim_orphaned_files().description()
    return None


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
