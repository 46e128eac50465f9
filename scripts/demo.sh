#!/usr/bin/env bash
# Sets up, builds and runs the demo: a kxen host (kxend) boots minios, a Xen PVH guest, shows
# its console, lists it, destroys it, then boots one more attached to its console.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
state=$(mktemp -d /tmp/kxen-demo.XXXXXX)
export KXEN_SOCKET=$state/privcmd
build/bin/kxend --socket "$KXEN_SOCKET" --state-dir "$state" 2>"$state/kxend.log" &
kxend=$!
trap 'kill $kxend 2>/dev/null; wait $kxend 2>/dev/null; rm -rf "$state"' EXIT
for _ in $(seq 50); do [ -S "$KXEN_SOCKET" ] && break; sleep 0.1; done
# kxend starts the host's xenstore; domains get their xenstore tree once it serves.
for _ in $(seq 100); do [ -S "$state/xenstored/socket" ] && break; sleep 0.1; done
kxl=build/bin/kxl
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

# kxend runs guests on KVM where /dev/kvm works, else on its software vCPU; its log says which.
grep -m1 "accelerator:" "$state/kxend.log" || true
step "kxl info | grep -E 'nr_cpus|xen_version|xen_hypervisor'"
$kxl info | grep -E 'nr_cpus|xen_version|xen_hypervisor'
step kxl create examples/minios.cfg "'extra=\"test=idle\"'"
$kxl create examples/minios.cfg 'extra="test=idle"'
step "kxl console minios    # (3 seconds; Ctrl-] detaches)"
timeout 3 $kxl console minios || true
step kxl list; $kxl list
step "kxl shutdown -w minios    # through control/shutdown in xenstore"; $kxl shutdown -w minios
step kxl list; $kxl list
step kxl create -c examples/minios.cfg "'extra=\"test=insn\"'    # attached: the guest powers off at the end"
$kxl create -c examples/minios.cfg 'extra="test=insn"'
step "kxl dmesg | tail -4"; $kxl dmesg | tail -4
echo; echo "demo: done (console log: $state/console/guest-minios.log)"
