#!/bin/sh
# PV disk throughput: minios's blkfront (test=blk) against kxen-backend's vbd backend, over a
# grid of queue depths and request sizes, with the host's own sequential write and read of
# the same image file (dd) as the floor. Starts its own kxend; builds nothing.
#   bench/run_blk.sh [BUILD_DIR] [size_mib=64] [repeats=3]
# Each cell is the best of `repeats` runs in MB/s (10^6 bytes), write then read+verify; the
# pages per request are what the guest used (it takes fewer when grant entries run short).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${KXEN_BUILD_DIR:-$repo/build}
if [ $# -gt 0 ] && [ -d "$1" ]; then
    build=$1
    shift
fi
size=${1:-64}
repeats=${2:-3}
for b in kxend kxl kxen-backend kxenstored; do
    [ -x "$build/bin/$b" ] || { echo "run_blk.sh: $build/bin/$b not found; build it first" >&2; exit 1; }
done
dir=$(mktemp -d /tmp/kxen-bench-blk.XXXXXX)
img=$dir/disk.img
"$build/bin/kxend" --socket "$dir/privcmd" --state-dir "$dir/state" >"$dir/kxend.log" 2>&1 &
kxend=$!
trap 'kill $kxend 2>/dev/null; wait $kxend 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
i=0
while [ ! -S "$dir/privcmd" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
export KXEN_SOCKET="$dir/privcmd"

# MB/s from "blk: <what> <KiB> KiB in <ms> ms"
rate() { awk -v w="$1" '$1 == "blk:" && $2 == w { if ($6 > 0) printf "%.0f", $3 * 1.024 / $6; else printf "0"; exit }'; }

run() {   # tag, test args -> "write read pages", best of $repeats (runs in a subshell)
    tag=$1
    shift
    best_w=0 best_r=0 n=0 pages=-
    while [ $n -lt "$repeats" ]; do
        n=$((n + 1))
        rm -f "$img"
        truncate -s $((size + 16))M "$img"
        # The console log, not kxl's attached console, which can miss the first lines.
        "$build/bin/kxl" create -c "$repo/examples/minios.cfg" "kernel=\"$build/guest/minios.elf\"" \
            "name=\"blk-$tag-$n\"" memory=48 "extra=\"test=blk size=$size $*\"" "disk=['$img,raw,xvda,rw']" \
            >"$dir/kxl.out" 2>&1 || true
        out=$(cat "$dir/state/console/guest-blk-$tag-$n.log" 2>/dev/null || cat "$dir/kxl.out")
        case $out in *"KXEN-TEST blk PASS"*) ;; *) echo "run_blk.sh: test=blk $* failed:" >&2; echo "$out" | tail -5 >&2; return 1 ;; esac
        w=$(echo "$out" | rate write) r=$(echo "$out" | rate read+verify)
        pages=$(echo "$out" | sed -n 's/.* \([0-9]*\) pages per request.*/\1/p')
        [ "$w" -gt "$best_w" ] && best_w=$w
        [ "$r" -gt "$best_r" ] && best_r=$r
    done
    echo "$best_w $best_r $pages"
}

accel=$(grep -o 'accelerator [a-z]*' "$dir/kxend.log" | head -1 || true)
echo "kxen PV disk, $size MiB from sector 0, best of $repeats (MB/s, write / read+verify) ${accel:+($accel)}"
printf '%-28s %8s %8s\n' "case" "write" "read"
for qd in 1 4 8 16; do
    for segs in 1 11 64 256; do
        [ $segs -le 11 ] && ind="indirect=0" || ind="indirect=1"
        set -- $(run "q$qd-s$segs" qd=$qd segs=$segs $ind)
        printf '%-28s %8s %8s\n' "qd=$qd pages/request=$3" "$1" "$2"
    done
done
# The floor: the host writing and reading the same file with 1 MiB blocks (the read mostly
# from the page cache, as the backend's is).
rm -f "$img"
w=$(dd if=/dev/zero of="$img" bs=1M count="$size" conv=fdatasync 2>&1 | awk '/copied/ { print $(NF-1), $NF }')
r=$(dd if="$img" of=/dev/null bs=1M 2>&1 | awk '/copied/ { print $(NF-1), $NF }')
printf '%-28s %8s %8s\n' "host dd, 1 MiB blocks" "$w" "$r"
