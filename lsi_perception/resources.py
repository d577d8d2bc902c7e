"""Where the package's data files live: the source tree in development, the ament share dir when installed."""
from __future__ import annotations

from pathlib import Path

PACKAGE = "lsi_perception"
_SOURCE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_NAME = "lsi_pvt_b0_synthetic.safetensors"
# How to rebuild the shipped model: the one wording every "it is missing" error uses.
RETRAIN_SHIPPED_HINT = ("retrain it with `make model` (lsi train --config config/train_synthetic_warm_mid.yaml, then "
                        "lsi train --export-shipped runs/synthetic_warm_mid_b0/best.safetensors)")


def share_dir() -> Path:
    """The folder holding config/, launch/, models/, rviz/ and the fallback vision_msgs definitions.

    A source checkout (editable install, tests) wins so edits are seen at once; otherwise the
    ament index of an installed package (colcon install space or the pip venv prefix).
    """
    if (_SOURCE_ROOT / "package.xml").is_file() and (_SOURCE_ROOT / "config").is_dir():
        return _SOURCE_ROOT
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except Exception as exc:  # PackageNotFoundError or no ament_index_python
        raise FileNotFoundError(
            f"cannot find the {PACKAGE} share directory: not a source checkout and not in the ament index "
            f"({exc}); source your workspace's setup.bash or reinstall the package"
        ) from exc


def config_path(name: str) -> Path:
    return share_dir() / "config" / name


def default_checkpoint_path() -> Path:
    """The small model shipped with the package (trained by ``make model``: config/train_synthetic_warm_mid.yaml)."""
    return share_dir() / "models" / DEFAULT_MODEL_NAME


def vision_msgs_definitions_dir() -> Path:
    """The .msg files of the fallback vision_msgs build (also used to register types with rosbags)."""
    return share_dir() / "fallback_interfaces" / "vision_msgs" / "msg"


def resolve_checkpoint(path: str | Path | None) -> Path:
    """``path`` (``~`` expanded), or the shipped model when it is empty; FileNotFoundError naming the fix
    when the file does not exist."""
    if path:
        resolved = Path(path).expanduser()
        hint = "give an existing .safetensors file"
    else:
        resolved = default_checkpoint_path()
        hint = f"the package's default model is missing: {RETRAIN_SHIPPED_HINT}, or give a checkpoint"
    if not resolved.is_file():
        raise FileNotFoundError(f"checkpoint {resolved} does not exist: {hint}")
    return resolved


def detector_command() -> list[str]:
    """How to start the ``lsi_detector`` executable as ``ros2 run`` would: ``lib/lsi_perception/lsi_detector``
    of the prefix the ament index gives for the package (a colcon install space, or the pip venv), else the
    script beside this interpreter, else ``python -m lsi_perception.ros.main``."""
    import sys

    candidates = []
    try:
        from ament_index_python.packages import get_package_prefix

        candidates.append(Path(get_package_prefix(PACKAGE)) / "lib" / PACKAGE / "lsi_detector")
    except Exception:  # not in the ament index, or no ament_index_python
        pass
    candidates.append(Path(sys.executable).with_name("lsi_detector"))
    for exe in candidates:
        if exe.is_file():
            return [str(exe)]
    return [sys.executable, "-m", f"{PACKAGE}.ros.main"]


KAIST_TEST_ANNOTATIONS = "test/data/kaist/KAIST_annotation.json.xz"


def kaist_test_annotations_path() -> Path:
    """The improved KAIST test annotations (Liu et al., BMVC 2016) in the KAIST evaluation schema, as the
    package ships them (xz; also installed to share/lsi_perception/test/data/kaist/)."""
    path = share_dir() / KAIST_TEST_ANNOTATIONS
    if not path.is_file():
        raise FileNotFoundError(f"the package's copy of the KAIST test annotations {path} is missing; reinstall the "
                                "package or give data.test_annotations=/path/to/KAIST_annotation.json")
    return path
