"""What a real (non-editable) install of the package contains, checked on the wheel setup.py builds.

``colcon build`` without ``--symlink-install`` and ``pip install .`` install what ``setup.py`` lists and
nothing else; an editable install (this repo's venv, ``--symlink-install``) serves every folder of the
source tree and hides a folder that a real install would leave out (issue 20: two folders without
``__init__.py`` were missing and the installed node could not start). So: build the wheel from a copy of
the tree, compare its modules with the source's, check the ROS share files, and import every module from
it in a fresh interpreter that cannot see the source tree or the editable finder.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "lsi_perception"
# Outputs and environments at the top of a checkout (not part of what setup.py installs).
NOT_SOURCE_TOP = {".git", "build", "install", "log", "runs", "data", "demo_out", "bench_out", ".pytest_cache",
                  ".ruff_cache"}
SHARE_FILES = ("launch/lsi_detector.launch.py", "config/lsi_detector.yaml", "config/fastdds_large_frames.xml",
               "models/lsi_pvt_b0_synthetic.safetensors", "package.xml", "rviz/lsi_perception.rviz")

IMPORT_EVERY_MODULE = """
import importlib, json, sys
root, modules = sys.argv[1], json.loads(sys.argv[2])
# The editable install's finder (a meta path entry and a path hook) would serve the source tree: drop it.
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in str(getattr(f, "__module__", ""))]
sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable__" not in str(getattr(h, "__module__", ""))]
sys.path_importer_cache.clear()
sys.path.insert(0, root)
failed, skipped = {}, {}
for name in modules:
    try:
        module = importlib.import_module(name)
        if not module.__file__.startswith(root):
            failed[name] = "imported from " + module.__file__
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] == "lsi_perception":
            failed[name] = repr(exc)
        else:  # a third-party package this environment lacks (launch_ros on a pip venv, say)
            skipped[name] = exc.name
    except Exception as exc:
        failed[name] = repr(exc)
print(json.dumps({"failed": failed, "skipped": skipped}))
"""


def _source_modules() -> set[str]:
    return {str(p.relative_to(REPO)) for p in (REPO / PACKAGE).rglob("*.py") if "__pycache__" not in p.parts}


def _not_source(folder: str, names: list[str]) -> set[str]:
    top = Path(folder) == REPO
    return {n for n in names if n == "__pycache__" or n.endswith(".egg-info")
            or (top and (n in NOT_SOURCE_TOP or n.startswith(".venv")))}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("tree") / PACKAGE
    shutil.copytree(REPO, tree, ignore=_not_source)
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--disable-pip-version-check", "-q", "--wheel-dir", str(out), str(tree)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (path,) = out.glob(f"{PACKAGE}-*.whl")
    return path


def test_the_wheel_holds_every_module_of_the_source_tree(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    installed = {n for n in names if n.startswith(f"{PACKAGE}/") and n.endswith(".py")}
    missing = sorted(_source_modules() - installed)
    assert not missing, f"left out of a real install (a folder without __init__.py?): {missing}"


def test_the_wheel_installs_the_ros_share_files_and_both_executables(wheel):
    archive = zipfile.ZipFile(wheel)
    data = {n.split(".data/data/", 1)[1] for n in archive.namelist() if ".data/data/" in n}
    assert f"share/ament_index/resource_index/packages/{PACKAGE}" in data
    missing = [f for f in SHARE_FILES if f"share/{PACKAGE}/{f}" not in data]
    assert not missing, f"share files not installed: {missing}"
    entry_points = next(n for n in archive.namelist() if n.endswith("entry_points.txt"))
    text = archive.read(entry_points).decode()
    assert "lsi_detector = lsi_perception.ros.main:main" in text and "lsi = lsi_perception.cli:main" in text


def test_every_module_imports_from_the_wheel_alone(wheel, tmp_path):
    root = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(root)
    modules = sorted(str(Path(p).with_suffix("")).replace("/", ".").removesuffix(".__init__")
                     for p in _source_modules() if not p.endswith("__main__.py"))  # those run a command
    run = subprocess.run([sys.executable, "-c", IMPORT_EVERY_MODULE, str(root), json.dumps(modules)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert not result["failed"], result["failed"]
    assert len(result["skipped"]) < len(modules) // 4, result["skipped"]  # the environment imports most of it


def test_setup_declares_pytest_as_the_test_runner_for_colcon():
    """colcon test runs pytest only when setup.py declares it (else ``python -m unittest``: 0 tests)."""
    run = subprocess.run([sys.executable, "-c", "import runpy, setuptools\n"
                          "setuptools.setup = lambda **kw: print(repr(kw.get('extras_require')))\n"
                          "runpy.run_path('setup.py')"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "'test': ['pytest'" in run.stdout
