"""The lsi_detector executable leaves no Fast DDS shared memory behind: on SIGTERM, when its parent dies,
and after a SIGKILL its next start removes what the dead one left (issue 20).

A node's own files are found through ``/proc/locks``: Fast DDS holds an ``flock`` on ``<segment>_el``
for as long as the participant lives, so the files whose lock the node's pid holds are its own. That
keeps the tests exact while other DDS processes run on the machine. The counts of ``/dev/shm/fastdds_*``
before and after are printed (``-s``) for the record.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lsi_perception.dds_shm import LOCK_SUFFIX, MIN_AGE_S, PREFIXES, SHM_DIR, reclaim_orphaned_files
from lsi_perception.resources import detector_command

pytestmark = [pytest.mark.ros, pytest.mark.skipif(not SHM_DIR.is_dir() or not Path("/proc/locks").is_file(),
                                                  reason="needs Linux /dev/shm and /proc/locks")]
READY = "DDS: Fast DDS profile"  # logged once the node's participant exists


def _dds_files() -> list[Path]:
    return sorted(p for p in SHM_DIR.iterdir() if p.name.startswith(PREFIXES))


def _segments_locked_by(pid: int) -> set[Path]:
    """The Fast DDS participant segments (not port files) whose lock ``pid`` holds."""
    inodes = set()
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[4] == str(pid):
            inodes.add(int(fields[5].split(":")[-1]))
    found = set()
    for path in _dds_files():
        if path.name.endswith(LOCK_SUFFIX) and "_port" not in path.name:
            try:
                if path.stat().st_ino in inodes:
                    found.add(path.with_name(path.name[: -len(LOCK_SUFFIX)]))
            except FileNotFoundError:
                continue
    return found


def _start_node(log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """lsi_detector without a model (autostart false): its DDS participant is all these tests need."""
    return subprocess.Popen([*detector_command(), "--ros-args", "-r", f"__ns:=/shm{os.getpid()}",
                             "-p", "autostart:=false"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)


def _wait_for_segments(pid: int, log: Path, timeout: float = 90.0) -> set[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if READY in log.read_text():
            segments = _segments_locked_by(pid)
            if segments:
                return segments
        time.sleep(0.2)
    raise AssertionError(f"node {pid} made no shared-memory segment in {timeout} s:\n{log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_sigterm_removes_the_nodes_segments(tmp_path):
    before = len(_dds_files())
    node = _start_node(tmp_path / "node.log")
    try:
        segments = _wait_for_segments(node.pid, tmp_path / "node.log")
        node.send_signal(signal.SIGTERM)
        assert node.wait(timeout=30) == 0
    finally:
        _stop(node)
    print(f"/dev/shm Fast DDS files: {before} before, {len(_dds_files())} after SIGTERM; node's segments {segments}")
    assert not any(p.exists() for p in segments), f"left behind after SIGTERM: {segments}"


def test_the_node_ends_and_cleans_up_when_its_parent_dies(tmp_path):
    """The launch file's case: ``ros2 launch`` killed outright; the node gets SIGTERM from the kernel."""
    log = tmp_path / "node.log"
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, time\n"
         "from lsi_perception.child_processes import tied_child_env\n"
         f"p = subprocess.Popen({detector_command()!r} + ['--ros-args', '-r', '__ns:=/orphan{os.getpid()}', "
         f"'-p', 'autostart:=false'], stdout=open({str(log)!r}, 'w'), stderr=subprocess.STDOUT, "
         "env=tied_child_env())\nprint(p.pid, flush=True)\ntime.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        node_pid = int(parent.stdout.readline())
        segments = _wait_for_segments(node_pid, log)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(node_pid):
            time.sleep(0.2)
        assert not _alive(node_pid), "the node outlived its parent by 30 s"
    finally:
        _stop(parent)
        if _alive(node_pid):
            os.kill(node_pid, signal.SIGKILL)
    assert not any(p.exists() for p in segments), f"left behind after the parent died: {segments}"
    assert "Traceback" not in log.read_text()


def _lock_age_s(segment: Path) -> float:
    """Seconds since the segment's lock file last changed (the clock ``reclaim_orphaned_files`` judges by)."""
    return time.time() - segment.with_name(segment.name + LOCK_SUFFIX).stat().st_ctime


def _wait_until_judgeable(segments: set[Path], timeout: float = 30.0) -> None:
    """Until every lock file, the youngest included, is past the reclaim's guard against just-starting
    processes (re-read each time: anything that touches a lock file restarts its clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ages = [_lock_age_s(p) for p in segments if p.exists()]
        if not ages or min(ages) > MIN_AGE_S + 0.5:
            return
        time.sleep(0.2)
    raise AssertionError(f"lock files still younger than {MIN_AGE_S} s after {timeout} s: {segments}")


def _why_left(segments: set[Path], node_log: str) -> str:
    """What a failure needs to say: each file's age and the processes holding its lock now, what a reclaim
    would do now, and what the restarted node logged about DDS."""
    lines = []
    holders = {}
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5:
            holders.setdefault(int(fields[5].split(":")[-1]), []).append(f"{fields[1]} {fields[3]} pid {fields[4]}")
    for path in sorted(segments):
        lock = path.with_name(path.name + LOCK_SUFFIX)
        try:
            lines.append(f"{path.name}: lock age {_lock_age_s(path):.1f} s, held by {holders.get(lock.stat().st_ino, 'nobody')}")
        except FileNotFoundError:
            lines.append(f"{path.name}: lock file gone")
    would = reclaim_orphaned_files(dry_run=True).removed
    lines.append(f"a reclaim now would remove: {sorted(p.name for p in would if p in segments)}")
    lines.extend(line for line in node_log.splitlines() if "DDS" in line)
    return "\n".join(lines)


def test_after_sigkill_the_next_start_removes_what_the_dead_node_left(tmp_path):
    # Both nodes on a domain of their own: no other participant of this session discovers the dead one
    # (Fast DDS in a live peer may clean or hold a dead peer's files itself, which is not what is tested).
    env = {**os.environ, "ROS_DOMAIN_ID": str(int(os.environ.get("ROS_DOMAIN_ID", "0")) % 101 + 1)}
    first = _start_node(tmp_path / "first.log", env)
    try:
        segments = _wait_for_segments(first.pid, tmp_path / "first.log")
        first.kill()
        first.wait()
    finally:
        _stop(first)
    assert all(p.exists() for p in segments), "SIGKILL cannot clean up; these tests expect it to leave files"
    left = len(_dds_files())
    _wait_until_judgeable(segments)
    second_log = tmp_path / "second.log"
    second = _start_node(second_log, env)
    try:
        _wait_for_segments(second.pid, second_log)
        output = second_log.read_text()
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    finally:
        _stop(second)
    print(f"/dev/shm Fast DDS files: {left} after SIGKILL, {len(_dds_files())} after the restart and its SIGTERM")
    assert not any(p.exists() for p in segments), (f"the restart did not remove {sorted(segments)}:\n"
                                                   + _why_left(segments, output))
    assert "shared-memory segments" in output and "left by processes that died" in output, output[-2000:]


def test_reclaim_keeps_files_whose_owner_lives_and_removes_only_dead_ones(tmp_path):
    """Without DDS: a held lock keeps its segment; a free one loses it (Fast DDS 2 names too); files younger
    than the guard are not judged; port files, semaphores and other files are never touched."""
    import fcntl

    def make(name: str) -> Path:
        base = tmp_path / name
        base.write_bytes(b"x" * 1000)
        (tmp_path / (name + LOCK_SUFFIX)).touch()
        return base

    alive, dead, port, fast_dds_2 = make("fastdds_aa"), make("fastdds_bb"), make("fastdds_port7400"), make("fastrtps_cc")
    (tmp_path / "sem.fastdds_port7400_mutex").write_bytes(b"s" * 32)
    other = tmp_path / "unrelated_el"
    other.touch()
    holder = os.open(tmp_path / ("fastdds_aa" + LOCK_SUFFIX), os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        # The files are seconds old: min_age_s=-1 judges them all, 3600 none.
        report = reclaim_orphaned_files(tmp_path, min_age_s=-1.0, dry_run=True)
        assert {p.name for p in report.removed} == {"fastdds_bb", "fastdds_bb_el", "fastrtps_cc", "fastrtps_cc_el"}
        assert all(p.exists() for p in (dead, port))
        assert reclaim_orphaned_files(tmp_path, min_age_s=3600.0).removed == []
        report = reclaim_orphaned_files(tmp_path, min_age_s=-1.0)
    finally:
        os.close(holder)
    assert alive.exists() and (tmp_path / "fastdds_aa_el").exists()
    assert not dead.exists() and not fast_dds_2.exists()
    assert port.exists() and (tmp_path / "sem.fastdds_port7400_mutex").exists() and other.exists()
    assert report.segments == 2 and report.bytes_freed == 2 * 1000
    assert report.description().startswith("DDS: removed 2 Fast DDS shared-memory segments (0.0 MB)")


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")
