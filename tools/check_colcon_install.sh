#!/usr/bin/env bash
# The distro path as far as a machine without a ROS distro allows (CI step; README, "On a ROS 2 distro"):
#   1. a colcon workspace with a copy of this checkout in src/, built by colcon WITHOUT --symlink-install
#      against the venv's pip-installed ROS 2 prefix (the venv is laid out as a ROS prefix);
#   2. with no editable install anywhere (the venv's editable lsi_perception is uninstalled first), a clean
#      environment holding only the install space and the venv's ROS/ML site-packages;
#   3. the installed lsi_detector started as `ros2 run` would (lib/lsi_perception/lsi_detector of the
#      package's prefix) until its `active:` line, then stopped with SIGINT (exit code 0);
#   4. the installed launch file's own imports resolved from the install space (the whole file too where
#      launch_ros imports: it has no wheel, so not here);
#   5. `colcon test` collects the suite and runs a few fast tests through pytest; `colcon test-result`.
# It changes the venv (the editable install is removed): a later `make setup` restores it.
# Usage: tools/check_colcon_install.sh [VENV]   (default $LSI_VENV, else .venv)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$(cd "${1:-${LSI_VENV:-$ROOT/.venv}}" && pwd)
log() { printf '[colcon-check] %s\n' "$*" >&2; }
[[ -x $VENV/bin/python ]] || { log "no venv at $VENV: run make setup first"; exit 1; }

WORK=$(mktemp -d)
NODE_PID=
cleanup() {
  [[ -n $NODE_PID ]] && kill -KILL "$NODE_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
WS=$WORK/ws
mkdir -p "$WS/src/lsi_perception"
# What a fresh clone holds (tracked files, plus new files not yet committed), nothing the checkout built.
(cd "$ROOT" && git ls-files -co --exclude-standard -z | tar --null -cf - -T -) | tar -xf - -C "$WS/src/lsi_perception"

log "colcon from pip (requirements/colcon.txt)"
"$VENV/bin/python" -m pip --disable-pip-version-check -q install -r "$ROOT/requirements/colcon.txt" \
  2> >(grep -v "is ignored: it is neither" >&2)

log "removing the editable install of lsi_perception from $VENV (make setup restores it)"
"$VENV/bin/python" -m pip --disable-pip-version-check -q uninstall -y lsi_perception
rm -rf "$VENV/share/lsi_perception" "$VENV/lib/lsi_perception" \
       "$VENV/share/ament_index/resource_index/packages/lsi_perception" "$VENV/.lsi-setup-stamp"

# The environment of a shell on the robot: the ROS prefix (here the venv) and nothing of this checkout.
clean_env=(env -i "HOME=$HOME" "PATH=$VENV/bin:/usr/local/bin:/usr/bin:/bin" "AMENT_PREFIX_PATH=$VENV" "WS=$WS" "ROOT=$ROOT"
           "ROS_DOMAIN_ID=${LSI_CHECK_DOMAIN_ID:-$(( (RANDOM % 90) + 5 ))}" "ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST"
           "PYTHONUNBUFFERED=1" "OMP_NUM_THREADS=2")
in_ws() { (cd "$WS" && "${clean_env[@]}" bash -c "$1"); }

log "colcon build --packages-select lsi_perception (no --symlink-install)"
in_ws 'colcon build --packages-select lsi_perception --event-handlers console_cohesion- >build.log 2>&1 \
       || { cat build.log; exit 1; }; tail -n 1 build.log'

log "the installed package in a clean interpreter"
in_ws 'source install/local_setup.bash && cd / && python - <<PY
import sys, lsi_perception
from lsi_perception.resources import detector_command, share_dir
install = "$WS/install/lsi_perception"
assert lsi_perception.__file__.startswith(install), f"imported from {lsi_perception.__file__}, not {install}"
assert not any("__editable__" in str(getattr(f, "__module__", "")) for f in sys.meta_path), sys.meta_path
assert "$ROOT" not in sys.path and not any(p.startswith("$ROOT/lsi_perception") for p in sys.path), sys.path
assert str(share_dir()).startswith(install), share_dir()
assert detector_command()[0] == f"{install}/lib/lsi_perception/lsi_detector", detector_command()
print("lsi_perception", lsi_perception.__file__, "| share", share_dir())
PY'

log "the installed lsi_detector, started as ros2 run does, until its active: line"
NODE_LOG=$WORK/lsi_detector.log
(cd "$WS" && "${clean_env[@]}" bash -c 'source install/local_setup.bash && cd / &&
  exec "$(python -c "from lsi_perception.resources import detector_command; print(detector_command()[0])")" \
       --ros-args -p device:=cpu -p warmup_iterations:=1') >"$NODE_LOG" 2>&1 &
NODE_PID=$!
for _ in $(seq 1 240); do
  grep -q "active:" "$NODE_LOG" && break
  kill -0 "$NODE_PID" 2>/dev/null || { cat "$NODE_LOG"; log "lsi_detector exited before it was active"; exit 1; }
  sleep 0.5
done
grep -q "active:" "$NODE_LOG" || { cat "$NODE_LOG"; log "lsi_detector not active after 120 s"; exit 1; }
grep -E "loaded|active:" "$NODE_LOG" | sed 's/^/    /' >&2
grep -q "$WS/install/lsi_perception/share/lsi_perception/models/" "$NODE_LOG" \
  || { cat "$NODE_LOG"; log "the model was not loaded from the install space"; exit 1; }
kill -INT "$NODE_PID"
status=0
wait "$NODE_PID" || status=$?
NODE_PID=
(( status == 0 )) || { cat "$NODE_LOG"; log "lsi_detector exited with $status after SIGINT"; exit 1; }

log "the installed launch file"
in_ws 'source install/local_setup.bash && cd / && python - <<PY
import ast, importlib, importlib.util
from ament_index_python.packages import get_package_share_directory
path = get_package_share_directory("lsi_perception") + "/launch/lsi_detector.launch.py"
assert path.startswith("$WS/install/"), path
ours = sorted({n.module for n in ast.walk(ast.parse(open(path).read()))
               if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("lsi_perception")})
for name in ours:
    assert importlib.import_module(name).__file__.startswith("$WS/install/"), name
names = ", ".join(ours)
if importlib.util.find_spec("launch_ros") is None:
    print(f"{path}: its lsi_perception imports resolve from the install space ({names}); "
          "launch_ros is not installed here, so the file itself is not loaded")
else:
    spec = importlib.util.spec_from_file_location("lsi_detector_launch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print(path, "loaded:", type(module.generate_launch_description()).__name__)
PY'

log "colcon test: collect the suite, run a few fast tests"
in_ws 'source install/local_setup.bash &&
  colcon test --packages-select lsi_perception --event-handlers console_cohesion- \
      --pytest-args --collect-only -q >collect.log 2>&1 || { cat collect.log; exit 1; }
  collected=$(grep -Eo "[0-9]+ tests? collected" log/latest_test/lsi_perception/stdout.log | grep -Eo "^[0-9]+")
  echo "    colcon test --pytest-args --collect-only: ${collected:-0} tests collected" >&2
  (( ${collected:-0} > 100 )) || { cat log/latest_test/lsi_perception/stdout_stderr.log; exit 1; }
  colcon test --packages-select lsi_perception --event-handlers console_cohesion- \
      --pytest-args test/test_packaging.py test/test_launch_plan.py test/test_health.py >test.log 2>&1 \
      || { cat test.log; exit 1; }
  colcon test-result --verbose >result.log 2>&1 || { cat result.log; exit 1; }
  sed "s/^/    /" result.log | tail -n 1 >&2
  grep -Eq "Summary: [1-9][0-9]* tests, 0 errors, 0 failures" result.log'
log "passed"
