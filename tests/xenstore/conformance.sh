#!/usr/bin/env bash
# Conformance of kxenstored with Xen's own clients: Debian's xenstore-utils (xenstore-read,
# -write, -ls, -list, -rm, -chmod, -exists, -watch), xenstore-control and test-xenstore from
# xen-utils-4.17, unpacked from their .debs (never installed), talking to kxenstored on a
# temporary socket through XENSTORED_PATH. Also: clients that break the protocol, and a
# kill -9 / restart of kxenstored that must keep the store.
#
#   tests/xenstore/conformance.sh [KXENSTORED]
#     KXENSTORED           the binary (default: $KXENSTORED, else build/bin/kxenstored)
#     XS_RANDOM_SECONDS    how long test-xenstore -r runs (default 60)
#     XS_DEB_CACHE         where the .debs are fetched and unpacked (default .cache/xenstore-debs)
# Exit 0 when everything passed, or (printing SKIPPED and why) when the .debs cannot be had.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
kxenstored="${1:-${KXENSTORED:-$repo/build/bin/kxenstored}}"
random_seconds="${XS_RANDOM_SECONDS:-60}"
cache="${XS_DEB_CACHE:-$repo/.cache/xenstore-debs}"
root="$cache/root"

skip() { echo "SKIPPED: xenstore conformance: $*"; exit 0; }

[ -x "$kxenstored" ] || { echo "FAILED: no kxenstored at $kxenstored"; exit 1; }

# ---- the real clients, from Debian's packages ----
fetch() {
    mkdir -p "$cache" && cd "$cache" || return 1
    # _apt cannot write to some cache dirs; apt then downloads as root with a warning.
    apt-get download xenstore-utils xen-utils-4.17 libxenstore4 libxentoolcore1 \
        >download.log 2>&1
}
mkdir -p "$cache" || skip "cannot create $cache"
exec 9>"$cache/.lock" && flock 9   # one fetch at a time (release and ASan trees share it)
if [ ! -x "$root/usr/lib/xen-4.17/bin/test-xenstore" ] || [ ! -x "$root/usr/bin/xenstore-read" ]; then
    command -v apt-get >/dev/null || skip "no apt-get to fetch xenstore-utils and xen-utils-4.17"
    if ! (fetch); then
        # A fresh machine may have no package lists yet.
        if [ "$(id -u)" -eq 0 ]; then apt-get update -qq >/dev/null 2>&1; fi
        (fetch) || skip "apt-get download failed: $(tail -1 "$cache/download.log" 2>/dev/null)"
    fi
    rm -rf "$root"
    for deb in "$cache"/*.deb; do
        dpkg-deb -x "$deb" "$root" || skip "cannot unpack $deb"
    done
fi
exec 9>&-
bin="$root/usr/bin"
xenbin="$root/usr/lib/xen-4.17/bin"
export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$xenbin/test-xenstore" -l >/dev/null 2>&1 || skip "test-xenstore from the .deb does not run here"

# ---- kxenstored on a temporary socket ----
work="$(mktemp -d /tmp/kxenstored-conformance.XXXXXX)"
export XENSTORED_PATH="$work/socket"
pid=""
start() {
    "$kxenstored" --socket "$XENSTORED_PATH" --state-dir "$work/state" >>"$work/kxenstored.log" 2>&1 &
    pid=$!
    # A killed daemon leaves its socket file: wait until the new one answers.
    for _ in $(seq 100); do
        [ -S "$XENSTORED_PATH" ] && "$bin/xenstore-exists" / 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "FAILED: kxenstored did not start:"; cat "$work/kxenstored.log"; return 1
}
stop() {   # $1: signal; returns kxenstored's exit status
    [ -n "$pid" ] || return 0
    kill "-${1:-TERM}" "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    local rc=$?
    pid=""
    return $rc
}
cleanup() { stop KILL; rm -rf "$work"; }
trap cleanup EXIT
start || exit 1

passed=0
failed=0
ok() { echo "  ok   $1"; passed=$((passed + 1)); }
bad() { echo "  FAIL $1"; failed=$((failed + 1)); }
# check NAME EXPECTED COMMAND...: the command's stdout must be EXPECTED, and it must succeed.
check() {
    local name=$1 want=$2; shift 2
    local got
    if got="$("$@" 2>&1)" && [ "$got" = "$want" ]; then ok "$name"; else
        bad "$name"; echo "       want: $(printf %q "$want")"; echo "       got:  $(printf %q "$got")"
    fi
}
# fails NAME COMMAND...: the command must fail.
fails() {
    local name=$1; shift
    if "$@" >/dev/null 2>&1; then bad "$name"; else ok "$name"; fi
}

echo "xenstore-utils:"
check "write two keys" "" "$bin/xenstore-write" /conf/a hello /conf/b world
check "read" "hello" "$bin/xenstore-read" /conf/a
check "read two keys" $'hello\nworld' "$bin/xenstore-read" /conf/a /conf/b
check "read relative to /local/domain/0" "rel" sh -c "'$bin/xenstore-write' relkey rel && '$bin/xenstore-read' /local/domain/0/relkey"
fails "read a missing key" "$bin/xenstore-read" /conf/missing
check "exists" "" "$bin/xenstore-exists" /conf/a
fails "exists (missing)" "$bin/xenstore-exists" /conf/missing
check "list" $'a\nb' "$bin/xenstore-list" /conf
check "ls" $'a = "hello"\nb = "world"' "$bin/xenstore-ls" /conf
check "write a deep key" "deep" sh -c "'$bin/xenstore-write' /conf/x/y/z deep && '$bin/xenstore-read' /conf/x/y/z"
check "chmod" "" "$bin/xenstore-chmod" /conf/a n5 r6 w7 b8
check "ls -p shows the ACL" 'a = "hello" (n5,r6,w7,b8)' \
    sh -c "'$bin/xenstore-ls' -p /conf | head -1 | sed 's/[ .]*(/ (/'"
check "chmod -r" "" "$bin/xenstore-chmod" -r /conf/x r0
check "recursive ACL reached the leaf" 'z = "deep" (r0)' \
    sh -c "'$bin/xenstore-ls' -p /conf/x/y | sed 's/[ .]*(/ (/'"
fails "chmod with a bad permission" "$bin/xenstore-chmod" /conf/a q5
check "rm" "" "$bin/xenstore-rm" /conf/b
fails "read after rm" "$bin/xenstore-read" /conf/b
check "rm a subtree" "a" sh -c "'$bin/xenstore-rm' /conf/x && '$bin/xenstore-list' /conf"
check "xenstore multi-call: write/read" "mc" sh -c "'$bin/xenstore' write /conf/mc mc && '$bin/xenstore' read /conf/mc"
check "value with spaces and symbols" "a b:c;d" sh -c "'$bin/xenstore-write' /conf/s 'a b:c;d' && '$bin/xenstore-read' /conf/s"
check "4000-byte value" "4000" sh -c "'$bin/xenstore-write' /conf/big \"\$(head -c 4000 /dev/zero | tr '\\0' x)\" && '$bin/xenstore-read' /conf/big | tr -d '\\n' | wc -c"

# xenstore-watch: the initial event, then one per change below the key.
"$bin/xenstore-watch" -n 3 /conf/w >"$work/watch.out" 2>&1 &
wpid=$!
for _ in $(seq 50); do [ -s "$work/watch.out" ] && break; sleep 0.05; done
"$bin/xenstore-write" /conf/w/x 1 /conf/w 2
for _ in $(seq 100); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.05; done
kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null
check "watch: initial event, then the changes" $'/conf/w\n/conf/w/x\n/conf/w' cat "$work/watch.out"

check "control: quota" "nodes            :     1000 Nodes per domain" \
    sh -c "'$xenbin/xenstore-control' quota | grep '^nodes'"
check "control: print" "OK" "$xenbin/xenstore-control" print conformance

echo "hostile clients:"
if command -v python3 >/dev/null; then
    out="$(python3 "$here/hostile_client.py" "$XENSTORED_PATH")"
    echo "$out"
    passed=$((passed + $(grep -c '^  ok' <<<"$out")))
    failed=$((failed + $(grep -c '^  FAIL' <<<"$out")))
else
    echo "  (no python3: hostile clients not run)"
fi

echo "test-xenstore (all tests):"
"$xenbin/test-xenstore" >"$work/tx.out" 2>&1
rc=$?
sed 's/^/  | /' "$work/tx.out"
while read -r name; do
    line="$(grep -E "^${name} *:" "$work/tx.out")"
    if [ -n "$line" ] && ! grep -q failed <<<"$line"; then ok "test-xenstore: $name"; else bad "test-xenstore: $name"; fi
done < <("$xenbin/test-xenstore" -l | sed -E 's/ *:.*//')
[ $rc -eq 0 ] || bad "test-xenstore exit status $rc"

echo "test-xenstore -r $random_seconds (random mode):"
"$xenbin/test-xenstore" -r "$random_seconds" >"$work/tr.out" 2>&1
rc=$?
sed 's/^/  | /' "$work/tr.out"
if [ $rc -eq 0 ]; then ok "test-xenstore -r $random_seconds"; else bad "test-xenstore -r $random_seconds (exit $rc)"; fi

echo "restart:"
"$bin/xenstore-write" /conf/persist survived
stop KILL
start || exit 1
check "store survives kill -9 of kxenstored" "survived" "$bin/xenstore-read" /conf/persist
check "ACLs survive too" 'a = "hello" (n5,r6,w7,b8)' \
    sh -c "'$bin/xenstore-ls' -p /conf | head -1 | sed 's/[ .]*(/ (/'"
stop TERM
start || exit 1
check "store survives a clean restart" "survived" "$bin/xenstore-read" /conf/persist

if kill -0 "$pid" 2>/dev/null; then ok "kxenstored still running at the end"; else bad "kxenstored still running at the end"; fi
if stop TERM; then ok "kxenstored exits cleanly on SIGTERM"; else bad "kxenstored exit status on SIGTERM"; fi
if grep -qE 'Sanitizer|runtime error' "$work/kxenstored.log"; then
    bad "sanitizer reports in kxenstored's log:"; grep -E -A20 'Sanitizer|runtime error' "$work/kxenstored.log" | head -60
else
    ok "no sanitizer reports"
fi
echo "xenstore conformance: $passed passed, $failed failed"
[ $failed -eq 0 ]
