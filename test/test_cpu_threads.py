"""Process-level CPU/DDS settings the node and the benches apply before torch / rclpy start."""
from __future__ import annotations

import os
import subprocess
import sys

from lsi_perception.cpu_threads import prefer_passive_omp_wait
from lsi_perception.dds import use_large_frames_profile
from lsi_perception.resources import config_path


def test_passive_wait_is_set_only_when_the_user_chose_nothing():
    env: dict[str, str] = {}
    assert prefer_passive_omp_wait(env) and env == {"OMP_WAIT_POLICY": "PASSIVE"}
    user = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert not prefer_passive_omp_wait(user) and user == {"OMP_WAIT_POLICY": "ACTIVE"}
    keep = {"LSI_KEEP_OMP_SPIN": "1"}
    assert not prefer_passive_omp_wait(keep) and "OMP_WAIT_POLICY" not in keep


def test_the_lsi_cli_sets_it_and_it_cannot_apply_once_torch_is_loaded():
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "LSI_KEEP_OMP_SPIN")}
    cli = ("import os, sys\nfrom lsi_perception import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
           "print(os.environ.get('OMP_WAIT_POLICY'))")
    assert subprocess.run([sys.executable, "-c", cli], env=env, capture_output=True, text=True,
                          check=True).stdout.split()[-1] == "PASSIVE"
    late = "import torch\nfrom lsi_perception.cpu_threads import prefer_passive_omp_wait as p\nprint(p())"
    assert subprocess.run([sys.executable, "-c", late], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "False"  # libgomp has read its settings already


def test_large_frame_profile_is_added_unless_dds_is_configured():
    """The cross-process bench relies on this; the profile's content is checked in test_dds.py."""
    env = {"ROS_DISTRO": "kilted"}
    use_large_frames_profile(env)
    profile = env["FASTDDS_DEFAULT_PROFILES_FILE"]
    assert profile == str(config_path("fastdds_large_frames.xml"))
    for user in ({"FASTDDS_DEFAULT_PROFILES_FILE": "/mine.xml"}, {"FASTRTPS_DEFAULT_PROFILES_FILE": "/old.xml"},
                 {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}):
        before = dict(user)
        use_large_frames_profile(user)
        assert user == before
