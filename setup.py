"""ament_python package setup for lsi_perception (also pip-installable into a plain venv)."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "lsi_perception"


def _files(pattern: str) -> list[str]:
    return sorted(p for p in glob(pattern) if not p.endswith(".gitkeep"))


def _requirements(path: str) -> list[str]:
    """The pinned requirements of ``path`` (comments and blank lines dropped): one place for each pin."""
    with open(path) as f:
        return [line.split("#")[0].strip() for line in f if line.split("#")[0].strip()]


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", _files("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", _files("config/*.yaml") + _files("config/*.xml")),
        (f"share/{PACKAGE}/models", _files("models/*.safetensors") + _files("models/*.md")),
        (f"share/{PACKAGE}/rviz", _files("rviz/*.rviz")),
        (f"share/{PACKAGE}/test/data/kaist", ["test/data/kaist/KAIST_annotation.json.xz"]),
        (f"share/{PACKAGE}/fallback_interfaces/vision_msgs/msg", _files("fallback_interfaces/vision_msgs/msg/*.msg")),
    ],
    install_requires=["setuptools"],
    # colcon test runs pytest only for packages that declare it here (otherwise python -m unittest: 0 tests).
    # pip install .[gpu]: onnxruntime-gpu for torch's CUDA 13 build (replaces the CPU onnxruntime: see
    # requirements/gpu.txt); .[gpu,tensorrt] adds TensorRT for the TensorRT provider.
    extras_require={"test": ["pytest"], "gpu": _requirements("requirements/gpu.txt"),
                    "tensorrt": _requirements("requirements/tensorrt.txt")},
    zip_safe=True,
    maintainer="lsi_perception maintainers",
    maintainer_email="maintainers@lsi-perception.dev",
    description="RGB + thermal pedestrian detection for ROS 2: two-stream PVT with an LSI modality-balance regularizer.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"lsi_detector = {PACKAGE}.ros.main:main",
            f"lsi = {PACKAGE}.cli:main",
        ],
    },
)
