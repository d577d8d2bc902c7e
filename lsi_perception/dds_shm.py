"""Fast DDS shared-memory segments that dead processes left in ``/dev/shm``, found and removed (no ROS import).

Each Fast DDS participant maps a segment (``fastdds_<id>``; ``fastrtps_<id>`` with Fast DDS 2.x, i.e.
Humble and Jazzy) and listens on port files (``fastdds_port<N>`` and the semaphore
``sem.fastdds_port<N>_mutex``). Beside each lives a lock file (``<name>_el``) that the owner holds with
``flock`` for as long as it lives. A clean exit removes them; a process that is killed (SIGKILL, a
crash, a container stopped hard) cannot, and its segment stays in ``/dev/shm`` (tmpfs, i.e. memory) until
someone removes it: with the package's large-frames profile that is about 34 MB per dead process, so a
stack that restarts in a loop fills ``/dev/shm``.

``reclaim_orphaned_files()`` removes, as ``fastdds shm clean`` does, a participant segment whose lock
nobody holds: it belongs to a dead process. One whose lock is held, or that is too young to judge (a
process just starting), is left alone. Port files are left alone too: a port is shared by every
participant that sends to it, its lock says only whether its listener lives, and Fast DDS re-creates a
port whose listener died when a new one opens it; they are 52 KB each, the segments 0.5-34 MB.
``lsi_detector`` calls it before it creates its own participant and logs what it freed.
"""
from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

SHM_DIR = Path("/dev/shm")
PREFIXES = ("fastdds_", "fastrtps_")  # Fast DDS 3.x, 2.x
LOCK_SUFFIX = "_el"
MIN_AGE_S = 5.0  # a lock file younger than this may belong to a process that has not locked it yet


@dataclass
class ReclaimReport:
    """What ``reclaim_orphaned_files`` removed (paths and bytes) and what it could not judge."""

    removed: list[Path] = field(default_factory=list)
    bytes_freed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def segments(self) -> int:
        """Participant segments removed (not counting their lock files)."""
        return sum(1 for p in self.removed if _is_segment(p.name))

    def description(self) -> str | None:
        """One log line, or None when nothing was removed and nothing failed."""
        if not self.removed and not self.errors:
            return None
        line = (f"DDS: removed {self.segments} Fast DDS shared-memory segments ({self.bytes_freed / 1e6:.1f} MB) "
                f"in {SHM_DIR} left by processes that died")
        if self.errors:
            line += f"; could not judge {len(self.errors)}: {self.errors[0]}"
        return line


def _is_segment(name: str) -> bool:
    return name.startswith(PREFIXES) and not name.endswith(LOCK_SUFFIX) and "_port" not in name


def reclaim_orphaned_files(shm_dir: Path = SHM_DIR, min_age_s: float = MIN_AGE_S,
                           dry_run: bool = False) -> ReclaimReport:
    """Remove the Fast DDS participant segments of ``shm_dir`` whose lock no live process holds, with their
    lock files (see the module text).

    The lock is taken before anything is removed and held until its files are gone, so a process that
    starts meanwhile cannot adopt a half-removed set. Files of other users (no permission) are skipped.
    """
    report = ReclaimReport()
    if not shm_dir.is_dir():
        return report
    now = time.time()
    for lock_path in sorted(shm_dir.glob("*" + LOCK_SUFFIX)):
        base = lock_path.with_name(lock_path.name[: -len(LOCK_SUFFIX)])
        if not _is_segment(base.name):
            continue
        try:
            if now - lock_path.stat().st_ctime < min_age_s:
                continue
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            continue  # removed meanwhile by its owner
        except PermissionError:
            continue  # another user's
        except OSError as exc:
            report.errors.append(f"{lock_path}: {exc}")
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # held: its owner is alive
            for path in (base, lock_path):
                try:
                    size = path.stat().st_size
                    if not dry_run:
                        path.unlink()
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    report.errors.append(f"{path}: {exc}")
                    continue
                report.removed.append(path)
                report.bytes_freed += size
        finally:
            os.close(fd)
    return report
