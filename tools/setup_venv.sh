#!/usr/bin/env bash
# Builds the pip-only ROS 2 + PyTorch environment in .venv (or $LSI_VENV):
#   1. a venv with the pinned ML stack and the ROS 2 wheels of $ROS_DISTRO: kilted (default,
#      requirements/ros.txt, .venv) or jazzy (requirements/ros-jazzy.txt, .venv-jazzy),
#   2. the wheels' exported CMake files pointed at this machine's Python and numpy headers,
#   3. the vision_msgs interface package built from fallback_interfaces/ when it does not import,
#   4. this package installed editable (console scripts lsi, lsi_detector; share/ and ament index, laid
#      out as colcon --symlink-install does: real folders, each file linked to the checkout).
# Idempotent: a stamp of the inputs' hash makes a second run with nothing to do return at once.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[setup] %s\n' "$*" >&2; }

DISTRO=${ROS_DISTRO:-kilted}
case $DISTRO in
  kilted) ROS_REQUIREMENTS=$ROOT/requirements/ros.txt; DEFAULT_VENV=$ROOT/.venv ;;
  jazzy) ROS_REQUIREMENTS=$ROOT/requirements/ros-jazzy.txt; DEFAULT_VENV=$ROOT/.venv-jazzy ;;
  *) log "ROS_DISTRO=$DISTRO: the pip environment exists for kilted (default) and jazzy. Unset ROS_DISTRO or" \
         "set it to one of them; on a sourced $DISTRO install, build with colcon instead (README)"; exit 1 ;;
esac
VENV=${LSI_VENV:-$DEFAULT_VENV}
PYTHON=${PYTHON:-python3}
STAMP=$VENV/.lsi-setup-stamp
SHARE_ITEMS=(package.xml launch config models rviz fallback_interfaces)
NEEDED_MB=6400  # a new venv: 6.2 GB installed (README, setup figures) plus pip's working room

msgs_hash() {
  cat "$ROOT"/fallback_interfaces/vision_msgs/CMakeLists.txt "$ROOT"/fallback_interfaces/vision_msgs/package.xml \
      "$ROOT"/fallback_interfaces/vision_msgs/msg/*.msg "$ROS_REQUIREMENTS" | sha256sum | cut -d' ' -f1
}

# The checkout's files installed under share/lsi_perception (a new one needs a new link: part of the hash).
share_files() {
  (cd "$ROOT" && find "${SHARE_ITEMS[@]}" -type f ! -name '*.pyc' ! -name .gitkeep ! -path '*/__pycache__/*' | sort)
}

inputs_hash() {
  { cat "$ROOT"/requirements/ml.txt "$ROOT"/requirements/ml-nodeps.txt "$ROS_REQUIREMENTS" "$ROOT"/tools/setup_venv.sh "$ROOT"/setup.py "$ROOT"/setup.cfg \
      "$ROOT"/fallback_interfaces/vision_msgs/CMakeLists.txt "$ROOT"/fallback_interfaces/vision_msgs/msg/*.msg
    echo "$DISTRO"; share_files; } | sha256sum | cut -d' ' -f1
}

HASH=$(inputs_hash)
if [[ -f $STAMP && "$(cat "$STAMP")" == "$HASH" ]]; then
  log "environment up to date: $VENV"
  exit 0
fi

start=$(date +%s)
"$PYTHON" - <<'PY'
import sys
if not ((3, 10) <= sys.version_info[:2] <= (3, 13)):
    sys.exit(f"[setup] Python {sys.version.split()[0]} found; the ROS 2 wheels exist for 3.10 to 3.13. "
             "Set PYTHON=python3.11 (or another supported version) and rerun.")
PY
command -v cmake >/dev/null || { log "cmake not found: install it (apt-get install cmake) and rerun"; exit 1; }
command -v cc >/dev/null || { log "no C compiler found: install one (apt-get install build-essential) and rerun"; exit 1; }

if [[ ! -x $VENV/bin/python ]]; then
  # torch's CUDA build from PyPI (the one that imports with torchvision on CPU and GPU) makes a new venv
  # about 6.2 GB. Say so before pip runs, so that a "No space left on device" half-way has its explanation.
  mkdir -p "$(dirname "$VENV")"
  FREE_MB=$(df -Pm "$(dirname "$VENV")" | awk 'NR == 2 {print $4}')
  if [[ -n $FREE_MB ]] && (( FREE_MB < NEEDED_MB )); then
    log "WARNING: only $FREE_MB MB free where $VENV goes; a new environment needs about $NEEDED_MB MB." \
        "If pip stops with 'No space left on device': free some space (an old .venv or .venv-jazzy, pip's" \
        "cache: pip cache purge) or set LSI_VENV to a folder on a bigger disk, then rerun"
  fi
  log "creating venv at $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# pip -q, minus this machine's warnings about absent local index folders.
# Also minus the resolver's note that trackeval (installed --no-deps, requirements/ml-nodeps.txt) lacks opencv-python.
pip_install() {
  "$VENV/bin/python" -m pip --disable-pip-version-check -q install "$@" 2> >(awk '
    /is ignored: it is neither/ || /^trackeval [^ ]+ requires opencv-python/ { next }
    /^ERROR: pip.s dependency resolver does not currently/ { held = $0; next }
    { if (held != "") { print held; held = "" } print }' >&2)
}
pip_install --upgrade "pip>=24" "setuptools>=70,<80" wheel
log "installing the ML stack (torch, timm, ...) and the ROS 2 $DISTRO wheels"
pip_install -r "$ROOT/requirements/ml.txt" -r "$ROS_REQUIREMENTS"
pip_install --no-deps -r "$ROOT/requirements/ml-nodeps.txt"

# The ROS wheels were built in an image whose Python lived in /opt/python/cp3XX-cp3XX; their exported
# CMake targets still name its include directories. Point them at this venv's real ones.
PYINC=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NPINC=$("$VENV/bin/python" -c "import numpy; print(numpy.get_include())")
PYVER=$("$VENV/bin/python" -c "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')")
TAG=cp${PYVER/./}-cp${PYVER/./}
{ grep -rl --include='*.cmake' "/opt/python/$TAG/" "$VENV/share" 2>/dev/null || true; } \
  | xargs -r sed -i \
      -e "s#/opt/python/$TAG/include/python$PYVER#$PYINC#g" \
      -e "s#/opt/python/$TAG/lib/python$PYVER/site-packages/numpy/_core/include#$NPINC#g"

if "$VENV/bin/python" -c "import vision_msgs.msg" 2>/dev/null \
   && [[ -f $VENV/share/vision_msgs/.lsi-fallback-hash ]] \
   && [[ "$(cat "$VENV/share/vision_msgs/.lsi-fallback-hash")" == "$(msgs_hash)" ]]; then
  log "vision_msgs already built"
else
  log "building vision_msgs from fallback_interfaces/vision_msgs (about 40 s)"
  BUILD=$(mktemp -d)
  trap 'rm -rf "$BUILD"' EXIT
  (
    export PATH=$VENV/bin:$PATH
    cmake -S "$ROOT/fallback_interfaces/vision_msgs" -B "$BUILD" \
      -DCMAKE_INSTALL_PREFIX="$VENV" -DCMAKE_PREFIX_PATH="$VENV" \
      -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >"$BUILD/cmake.log" 2>&1 \
      || { tail -n 40 "$BUILD/cmake.log" >&2; exit 1; }
    cmake --build "$BUILD" -j "$(nproc)" >"$BUILD/build.log" 2>&1 || { tail -n 40 "$BUILD/build.log" >&2; exit 1; }
    cmake --install "$BUILD" >"$BUILD/install.log" 2>&1 || { tail -n 40 "$BUILD/install.log" >&2; exit 1; }
  )
  msgs_hash >"$VENV/share/vision_msgs/.lsi-fallback-hash"
  "$VENV/bin/python" -c "from vision_msgs.msg import Detection2DArray" \
    || { log "vision_msgs was built but does not import"; exit 1; }
fi

log "installing lsi_perception (editable)"
pip_install --no-deps --no-build-isolation -e "$ROOT" 2>"$VENV/.lsi-editable-install.log" \
  || { cat "$VENV/.lsi-editable-install.log" >&2; exit 1; }

# Make the venv a ROS prefix for this package too, laid out as `colcon build --symlink-install` would: the
# ament index marker, share/lsi_perception as real folders whose files link to the checkout (edits are
# live; ros2 launch does not look into symlinked folders), and the executables under lib/lsi_perception
# where `ros2 run` looks for them.
mkdir -p "$VENV/share/ament_index/resource_index/packages" "$VENV/lib/lsi_perception"
touch "$VENV/share/ament_index/resource_index/packages/lsi_perception"
rm -rf "$VENV/share/lsi_perception"
mkdir -p "$VENV/share/lsi_perception"
while IFS= read -r file; do
  mkdir -p "$VENV/share/lsi_perception/$(dirname "$file")"
  ln -sfn "$ROOT/$file" "$VENV/share/lsi_perception/$file"
done < <(share_files)
# Like sourcing a ROS setup.bash: ament_index_python finds packages in this prefix.
SITE=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo 'import os, sys; os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)' >"$SITE/lsi_ament_prefix.pth"
for exe in lsi_detector lsi; do
  ln -sfn "$VENV/bin/$exe" "$VENV/lib/lsi_perception/$exe"
done

echo "$HASH" >"$STAMP"
log "done in $(( $(date +%s) - start )) s; venv size $(du -sh "$VENV" | cut -f1)"
