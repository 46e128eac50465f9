#!/bin/sh
# check_image.sh OBJDUMP ELF: fail if minios contains instructions that KVM's
# ring-0 emulator cannot run on our hosts (DESIGN.md sec. 7), except inside the
# *_ring0 functions of tests/ (insn, vmcall), which execute them on purpose.
# boot.S's pvh_start32 is 32-bit code that objdump decodes as 64-bit: its bytes
# (the far jump's target address, say) can read as x87 opcodes, so it is skipped.
set -eu
objdump=$1
elf=$2
"$objdump" -d -C --no-show-raw-insn "$elf" | awk '
/^[0-9a-f]+ <.*>:$/ { fn = $0; next }
fn ~ /<pvh_start32>:$/ { next }
/^ *[0-9a-f]+:\t/ {
    split($0, part, "\t"); insn = part[2]
    if (insn ~ /%[xyz]mm|%st|%mm[0-7]/ ||
        insn ~ /^(f[a-z0-9]+|popcnt|crc32[bwlq]?|tzcnt|shlx|shrx|sarx|rorx|andn|bextr|blsi|blsr|blsmsk|bzhi|pdep|pext|mulx|cmpxchg16b|rdtscp|clac|stac|sysenter|sysexit|xsave[a-z]*|xrstor[a-z]*|xgetbv|xsetbv|ldmxcsr|stmxcsr|movnti|[lsm]fence|vmcall|vmmcall|v[a-z0-9]+)( |$)/) {
        if (fn ~ /tests::\(anonymous namespace\)::[a-z0-9_]+_ring0\(/) next
        if (fn ~ /minios::tests::\(anonymous namespace\)::setup_ring0/) next
        printf "%s\n    %s\n", fn, $0
        bad = 1
    }
}
END {
    if (bad) { print "check_image.sh: ring-0-unsafe instructions outside tests/*_ring0 (see above)" > "/dev/stderr"; exit 1 }
}'
