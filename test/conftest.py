"""Shared pytest setup: one ROS domain per test session so concurrent runs never hear each other."""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

from lsi_perception.child_processes import ANY_PARENT, EXIT_WITH_PARENT_VARIABLE

REPO_ROOT = Path(__file__).resolve().parent.parent
KAIST_DATA_DIR = REPO_ROOT / "test" / "data" / "kaist"  # xz-compressed benchmark files, see its README

# Pick the domain before anything imports rclpy; subprocesses inherit it. 0..101 and 215..232 are the
# ranges the DDS port mapping allows on Linux; keep clear of 0 (the default everyone else uses).
if "LSI_TEST_DOMAIN_ID" not in os.environ:
    os.environ["LSI_TEST_DOMAIN_ID"] = str(random.Random(os.getpid() ^ int.from_bytes(os.urandom(4))).randint(1, 101))
os.environ["ROS_DOMAIN_ID"] = os.environ["LSI_TEST_DOMAIN_ID"]
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("PYTHONUNBUFFERED", "1")

# Tests share 2 cores with everything else: keep torch from oversubscribing.
os.environ.setdefault("OMP_NUM_THREADS", "2")

# Every process of the package that a test starts (lsi_detector, lsi ..., the helper processes in procs/)
# ends when this pytest process ends, however it ends (an interrupted run, a killed CI job): the kernel
# sends it SIGTERM (lsi_perception.child_processes). The processes they start are tied to them in turn.
os.environ[EXIT_WITH_PARENT_VARIABLE] = ANY_PARENT


def pytest_configure(config) -> None:
    """LSI_REQUIRE_ROS=1 (CI, make test-ros): a broken ROS install fails the run instead of skipping every
    ROS test, so a distro's run can never pass having tested nothing over DDS."""
    if os.environ.get("LSI_REQUIRE_ROS") == "1":
        try:
            import rclpy  # noqa: F401
            import vision_msgs.msg  # noqa: F401
        except Exception as exc:
            raise pytest.UsageError(f"LSI_REQUIRE_ROS=1 but ROS 2 does not import in {sys.prefix}: {exc!r}; "
                                    "rerun make setup") from exc


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def kaist_data_dir() -> Path:
    """The KAIST conformance files as kept in the repo (``*.xz`` and reference_mr.json)."""
    return KAIST_DATA_DIR


@pytest.fixture(scope="session")
def kaist_eval_dir(tmp_path_factory) -> Path:
    """The KAIST conformance files decompressed into a temporary folder (KAIST_annotation.json, *_result.*)."""
    import lzma
    import shutil

    out = tmp_path_factory.mktemp("kaist_eval")
    for path in KAIST_DATA_DIR.iterdir():
        if path.suffix == ".xz":
            with lzma.open(path) as src, (out / path.stem).open("wb") as dst:
                shutil.copyfileobj(src, dst)
        elif path.suffix == ".json":
            shutil.copy(path, out / path.name)
    return out


@pytest.fixture(scope="session", autouse=True)
def onnx_cache_dir(tmp_path_factory) -> Path:
    """A per-session lsi_perception cache (LSI_PERCEPTION_CACHE_DIR, inherited by node subprocesses): ONNX
    exports of the session's checkpoints are made once and shared, and never land in the real ~/.cache."""
    from lsi_perception.backends.onnx_cache import default_cache_dir

    os.environ["LSI_PERCEPTION_CACHE_DIR"] = str(tmp_path_factory.mktemp("lsi_cache"))
    return default_cache_dir()


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory) -> Path:
    """An untrained pvt_v2_b0 checkpoint (128x160 input, low threshold so it still returns boxes),
    shared by the Detector, node and bag tests: the plumbing needs any checkpoint, not a trained one."""
    from lsi_perception.testing import make_random_checkpoint

    return make_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "random.safetensors")


def rclpy_available() -> bool:
    try:
        import rclpy  # noqa: F401
    except Exception:
        return False
    return True


@pytest.fixture(scope="session")
def python_exe() -> str:
    return sys.executable


@pytest.fixture(scope="module")
def ros_module():
    """One rclpy context for a whole test module (``pytest.mark.usefixtures("ros_module")``)."""
    from lsi_perception.ros.harness import ros_context

    with ros_context():
        yield
