#!/usr/bin/env bash
# Do all rosdep keys of package.xml resolve on the supported distros? Offline, against a rosdistro checkout:
#   git clone --depth 1 https://github.com/ros/rosdistro /tmp/rosdistro && pip install rosdep
#   tools/check_rosdep_keys.sh /tmp/rosdistro
# For each pair (humble ubuntu:jammy, jazzy ubuntu:noble, kilted ubuntu:noble) prints every key and what it
# resolves to (apt or pip package); exits non-zero if any key does not resolve. Nothing is installed, and
# rosdep's own cache (~/.ros/rosdep) is not touched: a temporary ROS_HOME holds the sources.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROSDISTRO=$(cd "${1:?usage: $0 ROSDISTRO_CHECKOUT}" && pwd)
command -v rosdep >/dev/null || { echo "rosdep not found: pip install rosdep" >&2; exit 1; }
PAIRS=${LSI_ROSDEP_PAIRS:-"humble:ubuntu:jammy jazzy:ubuntu:noble kilted:ubuntu:noble"}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/sources.list.d" "$TMP/ws/src"
printf 'yaml file://%s/rosdep/base.yaml\nyaml file://%s/rosdep/python.yaml\n' "$ROSDISTRO" "$ROSDISTRO" \
  >"$TMP/sources.list.d/20-default.list"
distros=$(for pair in $PAIRS; do echo "${pair%%:*}"; done)
python3 - "$ROSDISTRO" "$TMP/index.yaml" $distros <<'PY'
import sys
import yaml
rosdistro, out, distros = sys.argv[1], sys.argv[2], sys.argv[3:]
index = yaml.safe_load(open(f"{rosdistro}/index-v4.yaml"))
index["distributions"] = {name: {"distribution": [f"file://{rosdistro}/{name}/distribution.yaml"],
                                 "distribution_type": "ros2", "distribution_status": "active"}
                          for name in distros}
yaml.safe_dump(index, open(out, "w"))
PY
ln -s "$ROOT" "$TMP/ws/src/lsi_perception"
export ROS_HOME=$TMP ROSDEP_SOURCE_PATH=$TMP/sources.list.d ROSDISTRO_INDEX_URL=file://$TMP/index.yaml
rosdep update -q >/dev/null

failed=0
for pair in $PAIRS; do
  distro=${pair%%:*} os=${pair#*:}
  keys=$(rosdep keys --from-paths "$TMP/ws/src" --ignore-src --rosdistro "$distro")
  echo "== $distro on $os: $(wc -w <<<"$keys") keys"
  for key in $keys; do
    if resolved=$(rosdep resolve "$key" --rosdistro "$distro" --os "$os" 2>&1); then
      printf '  %-28s %s\n' "$key" "$(tr '\n' ' ' <<<"$resolved")"
    else
      printf '  %-28s DOES NOT RESOLVE: %s\n' "$key" "$(tr '\n' ' ' <<<"$resolved")"
      failed=1
    fi
  done
done
exit $failed
