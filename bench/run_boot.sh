#!/bin/sh
# Runs the boot benchmark from an existing build; builds nothing.
#   bench/run_boot.sh [BUILD_DIR] [kxen-bench-boot options...]
# BUILD_DIR defaults to $KXEN_BUILD_DIR, else build/ beside this script's parent.
# Example: bench/run_boot.sh build-bench --runs 20
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${KXEN_BUILD_DIR:-$here/../build}
if [ $# -gt 0 ] && [ -d "$1" ]; then
    build=$1
    shift
fi
bin=$build/bin/kxen-bench-boot
if [ ! -x "$bin" ]; then
    echo "run_boot.sh: $bin not found; build it first:" >&2
    echo "  cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo && ninja -C $build kxen-bench-boot" >&2
    exit 1
fi
exec "$bin" "$@"
