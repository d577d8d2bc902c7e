"""Entry point of the ``lsi_detector`` executable (the ROS 2 node arrives with the node issue)."""
import sys


def main() -> int:
    print("lsi_detector: the ROS 2 node is not built yet in this checkout", file=sys.stderr)
    return 1
