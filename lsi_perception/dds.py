"""Which DDS configuration a process of this package runs with (no ROS import; call before ``rclpy.init``).

Fast DDS's default shared-memory segment (512 KB) is smaller than one camera frame, so between processes
large images travel as UDP fragments that best-effort subscribers lose. Every process of this package
that moves frames (``lsi_detector``, ``lsi bag play``, ``lsi demo``, ``lsi bench node``) therefore calls
``use_large_frames_profile()`` in its entry point, before the ROS context exists (the launch file gives
``large_frames_choice().set_env`` to the detector it starts, not to itself, whose own ROS node carries no
frames and whose segment would be left behind when ``ros2 launch`` is killed): it
points Fast DDS at ``config/fastdds_large_frames.xml`` (32 MB shared memory + UDPv4) unless the user has
already chosen a DDS configuration, which is then kept. The returned ``DdsChoice.description`` is the line
to log, so the log always says which configuration is active.

Fast DDS reads its profile file once per process, when the first participant is created, so setting the
variable later has no effect. The variable's name depends on the Fast DDS major version: Humble and Jazzy
(Fast DDS 2) read only ``FASTRTPS_DEFAULT_PROFILES_FILE``; Kilted and newer (Fast DDS 3) read
``FASTDDS_DEFAULT_PROFILES_FILE`` and warn that the old name is deprecated.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

PROFILE_FILE_NAME = "fastdds_large_frames.xml"
NEW_PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"  # Fast DDS 3 (Kilted and newer)
OLD_PROFILE_VARIABLE = "FASTRTPS_DEFAULT_PROFILES_FILE"  # Fast DDS 2 (Humble, Jazzy); deprecated in 3
PROFILE_VARIABLES = (NEW_PROFILE_VARIABLE, OLD_PROFILE_VARIABLE)
BUILTIN_TRANSPORTS_VARIABLE = "FASTDDS_BUILTIN_TRANSPORTS"
# Files Fast DDS loads by itself from the working directory (3.x name, 2.x name).
WORKING_DIR_PROFILE_FILES = ("DEFAULT_FASTDDS_PROFILES.xml", "DEFAULT_FASTRTPS_PROFILES.xml")
# Distros whose default RMW runs Fast DDS 2.x, which knows only FASTRTPS_DEFAULT_PROFILES_FILE.
FAST_DDS_2_DISTROS = frozenset({"foxy", "galactic", "humble", "iron", "jazzy"})
# rclpy major version -> distro, for a pip venv where ROS_DISTRO is not set (3 Humble, 4 Iron, 7 Jazzy).
_RCLPY_MAJOR_FAST_DDS_2 = 7  # rclpy <= 7: Jazzy or older


@dataclass(frozen=True)
class DdsChoice:
    """The DDS configuration of this process and the environment changes that select it."""

    source: str  # "package": our profile; "user": the environment's choice; "missing": our profile not found
    description: str  # one line for the log
    set_env: dict[str, str] = field(default_factory=dict)


def ros_distro(environ: Mapping[str, str] | None = None) -> str | None:
    """The ROS distro: ``ROS_DISTRO`` (set by a distro's setup.bash), else inferred from the pip-installed
    rclpy's version (``ros-rclpy`` wheel), else None."""
    environ = os.environ if environ is None else environ
    if environ.get("ROS_DISTRO"):
        return environ["ROS_DISTRO"].strip().lower()
    try:
        from importlib.metadata import PackageNotFoundError, version

        major = int(version("ros-rclpy").split(".")[0])
    except (PackageNotFoundError, ValueError, ImportError):
        return None
    return "jazzy" if major <= _RCLPY_MAJOR_FAST_DDS_2 else "kilted"


def profile_variable(distro: str | None) -> str:
    """The profile-file variable the distro's Fast DDS reads. Unknown distro: the old name, which Fast DDS 2
    reads and Fast DDS 3 still honours (with a deprecation warning)."""
    if distro is None or distro in FAST_DDS_2_DISTROS:
        return OLD_PROFILE_VARIABLE
    return NEW_PROFILE_VARIABLE


def package_profile_path() -> Path:
    """``config/fastdds_large_frames.xml`` of this package (source checkout or installed share dir)."""
    from lsi_perception.resources import config_path

    return config_path(PROFILE_FILE_NAME)


def choose_dds_configuration(environ: Mapping[str, str], profile: Path, distro: str | None,
                             working_dir: Path) -> DdsChoice:
    """Decide (without changing anything) which DDS configuration a process started with ``environ`` uses."""
    rmw = environ.get("RMW_IMPLEMENTATION", "")
    if rmw and not rmw.startswith("rmw_fastrtps"):
        hint = next((f"{k}={environ[k]}" for k in ("CYCLONEDDS_URI", "ZENOH_SESSION_CONFIG_URI") if environ.get(k)),
                    "its defaults")
        return DdsChoice("user", f"DDS: RMW_IMPLEMENTATION={rmw} with {hint} (kept; the Fast DDS large-frames "
                                 "profile does not apply)")
    for name in PROFILE_VARIABLES:
        value = environ.get(name)
        if value:
            if _same_file(value, profile):
                return DdsChoice("package", f"DDS: Fast DDS profile {value} (lsi_perception large frames: "
                                            f"32 MB shared memory + UDPv4) via {name}")
            return DdsChoice("user", f"DDS: Fast DDS profile {value} from {name} (yours, kept; for frames "
                                     "across processes it needs a large shared-memory segment: see the README)")
    if environ.get(BUILTIN_TRANSPORTS_VARIABLE):
        return DdsChoice("user", f"DDS: Fast DDS {BUILTIN_TRANSPORTS_VARIABLE}="
                                 f"{environ[BUILTIN_TRANSPORTS_VARIABLE]} (yours, kept)")
    for name in WORKING_DIR_PROFILE_FILES:
        if (working_dir / name).is_file():
            return DdsChoice("user", f"DDS: Fast DDS profile {working_dir / name} from the working directory "
                                     "(yours, kept)")
    if not profile.is_file():
        return DdsChoice("missing", f"DDS: Fast DDS defaults: the package's profile {profile} is missing "
                                    "(reinstall lsi_perception); frames over 512 KB may be lost between processes")
    variable = profile_variable(distro)
    return DdsChoice("package", f"DDS: Fast DDS profile {profile} (lsi_perception large frames: 32 MB shared "
                                f"memory + UDPv4) via {variable}", {variable: str(profile)})


def large_frames_choice(environ: Mapping[str, str] | None = None) -> DdsChoice:
    """What ``use_large_frames_profile`` would select for a process started with ``environ`` (default
    ``os.environ``), without changing anything: ``set_env`` is what to add to that process's environment
    (the launch file gives it to the detector only, not to the launch process itself)."""
    environ = os.environ if environ is None else environ
    try:
        profile = package_profile_path()
    except FileNotFoundError as exc:  # no share dir at all
        return DdsChoice("missing", f"DDS: Fast DDS defaults ({exc})")
    return choose_dds_configuration(environ, profile, ros_distro(environ), Path.cwd())


def use_large_frames_profile(environ: MutableMapping[str, str] | None = None) -> DdsChoice:
    """Select the large-frames profile for this process (and the processes it starts) unless a DDS
    configuration is already chosen. Call before ``rclpy.init``; log the returned description."""
    environ = os.environ if environ is None else environ
    choice = large_frames_choice(environ)
    environ.update(choice.set_env)
    return choice


def _same_file(value: str, profile: Path) -> bool:
    try:
        return Path(value).expanduser().resolve() == profile.resolve()
    except OSError:
        return False
