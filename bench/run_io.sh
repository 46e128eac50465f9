#!/bin/sh
# Runs the xenstore, event-channel and grant-table benchmarks from an existing build; builds
# nothing. oxenstored (the xenstore peer) comes from Debian's .debs, fetched and unpacked
# into .cache/xenstore-debs as tests/xenstore/conformance.sh does (never installed).
#   bench/run_io.sh [BUILD_DIR] [xenstore|evtchn|grant ...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${KXEN_BUILD_DIR:-$repo/build}
if [ $# -gt 0 ] && [ -d "$1" ]; then
    build=$1
    shift
fi
[ $# -gt 0 ] || set -- xenstore evtchn grant
for b in "$@"; do
    bin=$build/bin/kxen-bench-$b
    if [ ! -x "$bin" ]; then
        echo "run_io.sh: $bin not found; build it first: ninja -C $build kxen-bench-$b" >&2
        exit 1
    fi
done
for b in "$@"; do
    if [ "$b" = xenstore ]; then
        cache=$repo/.cache/xenstore-debs
        if [ ! -x "$cache/root/usr/lib/xen-4.17/bin/oxenstored" ] || [ ! -f "$cache/root/etc/xen/oxenstored.conf" ]; then
            mkdir -p "$cache"
            (cd "$cache" && apt-get download xen-utils-4.17 xen-utils-common libxenstore4 libxentoolcore1 \
                >download.log 2>&1) || echo "run_io.sh: apt-get download failed; oxenstored will be missing" >&2
            for deb in "$cache"/*.deb; do [ -f "$deb" ] && dpkg-deb -x "$deb" "$cache/root"; done
        fi
    fi
    echo "== kxen-bench-$b"
    "$build/bin/kxen-bench-$b"
    echo
done
