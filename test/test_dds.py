"""Which DDS configuration the package's processes choose (lsi_perception.dds; no ROS needed)."""
from __future__ import annotations

from pathlib import Path

import pytest

from lsi_perception.dds import (
    NEW_PROFILE_VARIABLE,
    OLD_PROFILE_VARIABLE,
    choose_dds_configuration,
    package_profile_path,
    profile_variable,
    ros_distro,
    use_large_frames_profile,
)


@pytest.fixture
def profile() -> Path:
    return package_profile_path()


def test_shipped_profile_has_a_large_shm_segment_plus_udp_and_no_builtin_transports(profile):
    import xml.etree.ElementTree as ET

    ns = {"d": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    root = ET.parse(profile).getroot()
    transports = {t.findtext("d:transport_id", namespaces=ns): t for t in root.iterfind(".//d:transport_descriptor", ns)}
    kinds = {t.findtext("d:type", namespaces=ns): t for t in transports.values()}
    assert set(kinds) == {"SHM", "UDPv4"}
    frame_16bit_1280x1024 = 1280 * 1024 * 2
    assert int(kinds["SHM"].findtext("d:segment_size", namespaces=ns)) >= 8 * frame_16bit_1280x1024
    participant = root.find(".//d:participant", ns)
    assert participant.get("is_default_profile") == "true"
    used = [e.text for e in participant.iterfind("d:rtps/d:userTransports/d:transport_id", ns)]
    assert sorted(used) == sorted(transports)
    assert participant.findtext("d:rtps/d:useBuiltinTransports", namespaces=ns) == "false"


@pytest.mark.parametrize("distro,variable", [
    ("kilted", NEW_PROFILE_VARIABLE), ("rolling", NEW_PROFILE_VARIABLE),
    ("jazzy", OLD_PROFILE_VARIABLE), ("humble", OLD_PROFILE_VARIABLE), (None, OLD_PROFILE_VARIABLE),
])
def test_the_profile_goes_in_the_variable_the_distros_fast_dds_reads(profile, tmp_path, distro, variable):
    choice = choose_dds_configuration({}, profile, distro, tmp_path)
    assert choice.source == "package" and choice.set_env == {variable: str(profile)}
    assert str(profile) in choice.description and variable in choice.description


@pytest.mark.parametrize("environ,shown", [
    ({NEW_PROFILE_VARIABLE: "/etc/dds/mine.xml"}, "/etc/dds/mine.xml"),
    ({OLD_PROFILE_VARIABLE: "/etc/dds/mine.xml"}, "/etc/dds/mine.xml"),
    ({"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA"}, "LARGE_DATA"),
    ({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp", "CYCLONEDDS_URI": "file:///etc/cyclone.xml"}, "cyclone.xml"),
    ({"RMW_IMPLEMENTATION": "rmw_zenoh_cpp"}, "rmw_zenoh_cpp"),
])
def test_a_users_dds_configuration_is_kept_and_named(profile, tmp_path, environ, shown):
    choice = choose_dds_configuration(environ, profile, "kilted", tmp_path)
    assert choice.source == "user" and choice.set_env == {} and shown in choice.description


def test_a_profile_file_in_the_working_directory_is_kept(profile, tmp_path):
    (tmp_path / "DEFAULT_FASTDDS_PROFILES.xml").write_text("<dds/>")
    choice = choose_dds_configuration({}, profile, "kilted", tmp_path)
    assert choice.source == "user" and "DEFAULT_FASTDDS_PROFILES.xml" in choice.description


def test_fast_dds_under_another_rmw_name_still_gets_the_profile(profile, tmp_path):
    choice = choose_dds_configuration({"RMW_IMPLEMENTATION": "rmw_fastrtps_dynamic_cpp"}, profile, "jazzy", tmp_path)
    assert choice.set_env == {OLD_PROFILE_VARIABLE: str(profile)}


def test_a_child_of_an_lsi_process_reports_the_inherited_package_profile(profile, tmp_path):
    parent_env: dict[str, str] = {"ROS_DISTRO": "kilted"}
    use_large_frames_profile(parent_env)
    child = choose_dds_configuration(parent_env, profile, "kilted", tmp_path)
    assert child.source == "package" and child.set_env == {} and "large frames" in child.description


def test_missing_profile_leaves_fast_dds_defaults_and_says_so(tmp_path):
    choice = choose_dds_configuration({}, tmp_path / "gone.xml", "kilted", tmp_path)
    assert choice.source == "missing" and choice.set_env == {} and "gone.xml" in choice.description


def test_distro_from_ros_distro_first():
    assert ros_distro({"ROS_DISTRO": "Humble"}) == "humble"
    assert profile_variable(ros_distro({"ROS_DISTRO": "kilted"})) == NEW_PROFILE_VARIABLE
