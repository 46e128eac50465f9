#!/bin/sh
# PV disk I/O from minios (test=blk-bench) with and without persistent grants, against fio on
# the host reading and writing the same image file in the same run: 4 KiB random reads at
# queue depth 1 and 32, 1 MiB sequential reads and writes at depth 4. Starts its own kxend
# (KXEN_BENCH_ACCEL=kvm|soft|auto picks its --accel); builds nothing; installs fio (Debian's
# package) if it is missing.
#   bench/run_blk_fio.sh [BUILD_DIR] [seconds=5] [repeats=3]
# Each cell is the median of `repeats` runs of `seconds`; in every round each case runs on
# the three sides in turn, the side that goes first rotating from round to round.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${KXEN_BUILD_DIR:-$repo/build}
if [ $# -gt 0 ] && [ -d "$1" ]; then
    build=$1
    shift
fi
seconds=${1:-5}
repeats=${2:-3}
size_mib=256
for b in bin/kxend bin/kxl bin/kxen-backend bin/kxenstored guest/minios.elf; do
    [ -e "$build/$b" ] || { echo "run_blk_fio.sh: $build/$b not found; build it first" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "run_blk_fio.sh: needs python3" >&2; exit 1; }
if ! command -v fio >/dev/null; then
    echo "run_blk_fio.sh: installing fio (apt-get install -y fio)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y fio >/dev/null ||
        { echo "run_blk_fio.sh: fio is missing and apt-get install -y fio failed" >&2; exit 1; }
fi

dir=$(mktemp -d /tmp/kxen-bench-blkfio.XXXXXX)
img=$dir/disk.img
results=$dir/results.tsv
"$build/bin/kxend" --socket "$dir/privcmd" --state-dir "$dir/state" ${KXEN_BENCH_ACCEL:+--accel "$KXEN_BENCH_ACCEL"} \
    >"$dir/kxend.log" 2>&1 &
kxend=$!
cleanup() {
    kill $kxend 2>/dev/null || true
    wait $kxend 2>/dev/null || true
    if [ "${KXEN_BENCH_KEEP:-0}" = 1 ]; then echo "kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM
i=0
while [ ! -S "$dir/privcmd" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -S "$dir/privcmd" ] || { echo "run_blk_fio.sh: kxend did not start:" >&2; tail -5 "$dir/kxend.log" >&2; exit 1; }
export KXEN_SOCKET="$dir/privcmd"
accel=$(sed -n 's/.*\(accelerator: .*\)/\1/p' "$dir/kxend.log" | head -1)

# Non-zero data throughout, so that no read is of a hole; after this the image is in the page
# cache, where the backend's buffered reads and fio's find it alike.
dd if=/dev/urandom of="$img" bs=1M count=$size_mib status=none

# fio's engine: io_uring keeps `qd` requests in flight; where the kernel refuses it, psync
# (one at a time whatever the depth).
engine=io_uring
fio --name=probe --filename="$img" --rw=read --bs=4k --size=64k --ioengine=io_uring --direct=0 \
    --output-format=json >/dev/null 2>&1 || engine=psync
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

run_minios() {   # round persistent rw pattern kib qd -> "iops bytes/s persistent-as-negotiated"
    name="bb-$1-$2-$3-$4-$5-$6"
    timeout $((seconds * 4 + 120)) "$build/bin/kxl" create -c "$repo/examples/minios.cfg" \
        "kernel=\"$build/guest/minios.elf\"" "name=\"$name\"" memory=64 \
        "extra=\"test=blk-bench rw=$3 pattern=$4 kib=$5 qd=$6 seconds=$seconds size=$size_mib persistent=$2 seed=$1\"" \
        "disk=['$img,raw,xvda,rw']" >"$dir/kxl.out" 2>&1 || "$build/bin/kxl" destroy "$name" >/dev/null 2>&1 || true
    # The console log, not kxl's attached console, which can miss the first lines.
    out=$(cat "$dir/state/console/guest-$name.log" 2>/dev/null || cat "$dir/kxl.out")
    case $out in *"KXEN-TEST blk-bench PASS"*) ;; *)
        echo "run_blk_fio.sh: test=blk-bench rw=$3 pattern=$4 kib=$5 qd=$6 persistent=$2 failed:" >&2
        echo "$out" | tail -5 >&2
        return 1 ;;
    esac
    echo "$out" | awk '$1 == "blk-bench:" && $2 ~ /^rw=/ {
        for (i = 2; i <= NF; ++i) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%s %.0f %s\n", v["iops"], v["kbps"] * 1000, v["persistent"] }'
}

run_fio() {   # rw pattern kib qd -> "iops bytes/s"
    case $1-$2 in read-random) mode=randread ;; write-random) mode=randwrite ;; *) mode=$1 ;; esac
    fio --name=blk --filename="$img" --rw="$mode" --bs="$3k" --iodepth="$4" --ioengine=$engine --direct=0 \
        --invalidate=0 --size=${size_mib}m --time_based --runtime="$seconds" --output-format=json \
        --output="$dir/fio.json" >"$dir/fio.out" 2>&1 || { echo "run_blk_fio.sh: fio failed:" >&2; cat "$dir/fio.out" >&2; return 1; }
    python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0][sys.argv[2]]
print("%.0f %.0f" % (j["iops"], j["bw_bytes"]))' "$dir/fio.json" "$1"
}

# case: label rw pattern kib qd
cases="4k-randread-qd1:read:random:4:1 4k-randread-qd32:read:random:4:32 1m-seqread-qd4:read:seq:1024:4 1m-seqwrite-qd4:write:seq:1024:4"
: >"$results"
round=0
while [ $round -lt "$repeats" ]; do
    round=$((round + 1))
    for c in $cases; do
        IFS=: read -r label rw pattern kib qd <<EOF
$c
EOF
        case $((round % 3)) in
        1) sides="persistent copy fio" ;;
        2) sides="copy fio persistent" ;;
        0) sides="fio persistent copy" ;;
        esac
        for side in $sides; do
            case $side in
            persistent) r=$(run_minios $round 1 "$rw" "$pattern" "$kib" "$qd") ;;
            copy) r=$(run_minios $round 0 "$rw" "$pattern" "$kib" "$qd") ;;
            fio) r=$(run_fio "$rw" "$pattern" "$kib" "$qd") ;;
            esac
            echo "$label $side $round $r" >>"$results"
        done
    done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$results" "$seconds" "$repeats" "$size_mib" "$engine" "${accel:-accelerator: unknown}" "$load_start" "$load_end" <<'EOF'
import statistics, sys
path, seconds, repeats, size, engine, accel, load0, load1 = sys.argv[1:]
rows = {}
order = []
warn = []
for line in open(path):
    f = line.split()
    label, side = f[0], f[1]
    if label not in order:
        order.append(label)
    rows.setdefault((label, side), []).append((float(f[3]), float(f[4])))
    if side != "fio" and f[5] != ("1" if side == "persistent" else "0"):
        warn.append(f"{label} round {f[2]}: asked for persistent={int(side == 'persistent')}, got {f[5]}")
med = {k: (statistics.median(v[0] for v in vs), statistics.median(v[1] for v in vs)) for k, vs in rows.items()}
print(f"kxen PV disk (minios test=blk-bench) vs fio on the host, {size} MiB image, {seconds} s per run, "
      f"median of {repeats}; kxend {accel}; fio --ioengine={engine} --direct=0; load {load0} -> {load1}")
hdr = ("case", "persistent IOPS", "MB/s", "copy IOPS", "MB/s", "fio IOPS", "MB/s", "persistent/fio", "copy/fio")
print("%-18s %15s %9s %10s %9s %10s %9s %15s %9s" % hdr)
for label in order:
    p, c, h = med[(label, "persistent")], med[(label, "copy")], med[(label, "fio")]
    print("%-18s %15.0f %9.1f %10.0f %9.1f %10.0f %9.1f %15.4f %9.4f" % (
        label, p[0], p[1] / 1e6, c[0], c[1] / 1e6, h[0], h[1] / 1e6, p[0] / h[0], c[0] / h[0]))
print("IOPS over the rounds, min-max:")
for label in order:
    print("%-18s" % label, "   ".join("%s %.0f-%.0f" % (side, min(v[0] for v in rows[(label, side)]),
                                                      max(v[0] for v in rows[(label, side)]))
                                    for side in ("persistent", "copy", "fio")))
for w in warn:
    print("warning:", w)
EOF
