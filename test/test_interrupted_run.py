"""An interrupted test run leaves no process behind (issue 20): SIGINT to pytest while the demo test has
``lsi_detector`` and ``lsi bag play`` running, as when ``colcon test`` is stopped with Ctrl-C.

pytest's ``subprocess.run`` answers the interrupt by killing the ``lsi demo`` process outright (SIGKILL),
so the demo cannot stop its children itself; they end because they were started tied to it
(``lsi_perception.child_processes``).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="needs Linux /proc")]
REPO = Path(__file__).resolve().parent.parent
DEMO_TEST = "test/test_demo.py::test_tiny_demo_runs_the_node_and_writes_real_detections"


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _descendants(root: int) -> dict[int, str]:
    """pid -> command line of every live descendant of ``root``."""
    parents = {int(p.name): _parent_of(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    found, frontier = {}, {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in found}
        for pid in frontier:
            try:
                found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except FileNotFoundError:
                continue
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_sigint_to_pytest_during_the_demo_test_ends_the_node_and_the_player():
    inner = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", DEMO_TEST], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and inner.poll() is None:
            now = {pid: cmd for pid, cmd in _descendants(inner.pid).items() if _running(pid)}
            seen.update(now)
            # both alive in this very look, so that the interrupt reaches pytest while it waits on the demo
            # (a player seen earlier may have finished, and the test with it, before the signal arrives)
            if any(" bag play " in cmd for cmd in now.values()) and any("ros.main" in cmd or "lsi_detector" in cmd
                                                                          for cmd in now.values()):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"the demo test never had its node and player running together: {seen}\n"
                        f"{inner.communicate(timeout=60)[0][-3000:] if inner.poll() is not None else ''}")
        os.kill(inner.pid, signal.SIGINT)  # pytest alone, as colcon's Ctrl-C reaches it
        output = inner.communicate(timeout=90)[0]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_running(pid) for pid in seen):
            time.sleep(0.2)
        left = {pid: cmd for pid, cmd in seen.items() if _running(pid)}
        assert not left, f"still running 30 s after pytest ended: {left}\n{output[-2000:]}"
        assert "KeyboardInterrupt" in output or "Interrupted" in output, output[-2000:]
    finally:
        if inner.poll() is None:
            os.killpg(inner.pid, signal.SIGKILL)
            inner.wait()
        for pid in seen:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
