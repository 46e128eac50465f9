#!/usr/bin/env bash
# Conformance of kxen's migration stream writer with Xen's own checker: verify-stream-v2 from
# Debian's xen-utils-4.17, unpacked from its .deb (never installed), run on the sample stream
# of src/toolstack/stream/sample.hpp in each of its formats (-f xl, libxl, libxc). Also checks
# that verify-stream-v2 does reject a corrupted copy, so that a pass means something.
#
#   tests/stream/verify_conformance.sh [KXEN_STREAM_SAMPLE [BIN_DIR GUEST]]
#     KXEN_STREAM_SAMPLE   the binary (default: build/bin/kxen-stream-sample)
#     BIN_DIR GUEST        kxend/kxl and minios.elf: also check `kxl save` of a running guest
#                          (needs /dev/kvm; skipped without it)
#     STREAM_DEB_CACHE     where the .deb is fetched and unpacked (default .cache/stream-debs)
# Exit 0 when everything passed, or (printing SKIPPED and why) when the .deb cannot be had.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
sample="${1:-$repo/build/bin/kxen-stream-sample}"
cache="${STREAM_DEB_CACHE:-$repo/.cache/stream-debs}"
root="$cache/root"

skip() { echo "SKIPPED: stream conformance: $*"; exit 0; }

[ -x "$sample" ] || { echo "FAILED: no kxen-stream-sample at $sample"; exit 1; }
command -v python3 >/dev/null || skip "no python3 to run verify-stream-v2"

fetch() {
    mkdir -p "$cache" && cd "$cache" || return 1
    # _apt cannot write to some cache dirs; apt then downloads as root with a warning.
    apt-get download xen-utils-4.17 >download.log 2>&1
}
mkdir -p "$cache" || skip "cannot create $cache"
exec 9>"$cache/.lock" && flock 9   # one fetch at a time (release and ASan trees share it)
verify="$root/usr/lib/xen-4.17/bin/verify-stream-v2"
if [ ! -f "$verify" ]; then
    command -v apt-get >/dev/null || skip "no apt-get to fetch xen-utils-4.17"
    if ! (fetch); then
        # A fresh machine may have no package lists yet.
        if [ "$(id -u)" -eq 0 ]; then apt-get update -qq >/dev/null 2>&1; fi
        (fetch) || skip "apt-get download failed: $(tail -1 "$cache/download.log" 2>/dev/null)"
    fi
    rm -rf "$root"
    for deb in "$cache"/xen-utils-4.17_*.deb; do
        dpkg-deb -x "$deb" "$root" || skip "cannot unpack $deb"
    done
fi
exec 9>&-
[ -f "$verify" ] || skip "no verify-stream-v2 in the .deb"
pylib="$(dirname "$(find "$root" -path '*/xen/migration/verify.py' | head -1)")"
[ -n "$pylib" ] || skip "no xen/migration python package in the .deb"
export PYTHONPATH="$(cd "$pylib/../.." && pwd)"

work="$(mktemp -d /tmp/kxen-stream-conformance.XXXXXX)"
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
ok() { echo "  ok   $1"; passed=$((passed + 1)); }
bad() { echo "  FAIL $1"; failed=$((failed + 1)); }

# verify FORMAT FILE: verify-stream-v2's verdict, with its output on failure.
verify() {
    python3 "$verify" -v -f "$1" -i "$2" >"$work/out" 2>&1
}

echo "verify-stream-v2 on kxen's sample stream:"
for fmt in xl libxl libxc; do
    if ! "$sample" --format "$fmt" "$work/sample.$fmt" 2>"$work/err"; then
        bad "write the $fmt sample: $(cat "$work/err")"
        continue
    fi
    if verify "$fmt" "$work/sample.$fmt" && ! grep -q 'Error' "$work/out"; then
        ok "verify-stream-v2 -f $fmt ($(stat -c %s "$work/sample.$fmt") bytes, $(grep -c 'Record' "$work/out") records)"
    else
        bad "verify-stream-v2 -f $fmt"; sed 's/^/       | /' "$work/out"
    fi
done

echo "verify-stream-v2 rejects corrupted copies (so that the checks above mean something):"
# corrupt NAME OFFSET BYTE: the xl sample with one byte replaced must be refused.
corrupt() {
    cp "$work/sample.xl" "$work/bad.xl"
    printf "$3" | dd of="$work/bad.xl" bs=1 seek="$2" conv=notrunc status=none
    if verify xl "$work/bad.xl"; then bad "$1 was accepted"; else ok "$1: $(grep -E 'Error:' "$work/out" | grep -v '^Stream Error' | tail -1)"; fi
}
[ -f "$work/sample.xl" ] && {
    # Layout: xl header 48 bytes + 4-byte config length + config; then the libxl header (16),
    # LIBXC_CONTEXT (8), the libxc image header (24) ...
    cfglen=$(od -An -tu4 -j48 -N4 "$work/sample.xl" | tr -d ' ')
    libxl=$((52 + cfglen))
    corrupt "a bad libxl ident" "$libxl" '\x00'
    corrupt "a bad libxc version" $((libxl + 24 + 15)) '\x09'
    corrupt "reserved libxc option bits" $((libxl + 24 + 16)) '\x80'
    corrupt "an unknown libxc record type" $((libxl + 24 + 40)) '\x7f'
}

# A real save: kxend runs minios, kxl saves it, verify-stream-v2 reads the file.
bindir="${2:-}"
guest="${3:-}"
if [ -n "$bindir" ] && [ -n "$guest" ]; then
    echo "verify-stream-v2 on kxl save of a running minios:"
    if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
        echo "  skip (no usable /dev/kvm)"
    else
        export KXEN_SOCKET="$work/privcmd"
        "$bindir/kxend" --socket "$KXEN_SOCKET" --state-dir "$work/state" >"$work/kxend.log" 2>&1 &
        kxend=$!
        for _ in $(seq 100); do [ -S "$work/state/xenstored/socket" ] && break; sleep 0.1; done
        for extra in "test=idle" "test=spin"; do
            if "$bindir/kxl" create "$repo/examples/minios.cfg" "kernel=\"$guest\"" "name=\"sv\"" "extra=\"$extra\"" \
                   >"$work/err" 2>&1 && sleep 0.5 && "$bindir/kxl" save sv "$work/sv.xl" >>"$work/err" 2>&1; then
                if verify xl "$work/sv.xl" && ! grep -q 'Error' "$work/out"; then
                    ok "kxl save ($extra): verify-stream-v2 -f xl ($(stat -c %s "$work/sv.xl") bytes, $(grep -c 'Record' "$work/out") records)"
                else
                    bad "kxl save ($extra): verify-stream-v2 -f xl"; sed 's/^/       | /' "$work/out"
                fi
            else
                bad "kxl create/save ($extra)"; sed 's/^/       | /' "$work/err"
            fi
            "$bindir/kxl" destroy sv >/dev/null 2>&1
        done
        kill "$kxend"; wait "$kxend" 2>/dev/null
    fi
fi

echo "stream conformance: $passed passed, $failed failed"
[ $failed -eq 0 ]
