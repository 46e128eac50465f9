// kxen::toolstack::build: vCPU0's state at a PVH kernel's entry point.
#pragma once
#include "toolstack/build/pvh.hpp"

#include <stdint.h>   // Xen's public headers use the C integer types unqualified
#include <xen/xen.h>
#include <xen/hvm/hvm_vcpu.h>

namespace kxen::toolstack::build {

// The PVH start state (docs/misc/pvh.pandoc; Xen's vcpu_hvm() in xg_dom_x86.c):
// 32-bit protected mode, paging off, flat 4 GiB CS (ar 0xc9b) and DS/ES/SS (ar 0xc93),
// a busy 32-bit TSS in TR (base 0, limit 0x67, ar 0x8b), CR0 = PE|ET, EFLAGS = 2 (only the
// always-one bit), EIP = XEN_ELFNOTE_PHYS32_ENTRY, EBX = the hvm_start_info address,
// everything else zero. Suitable for VCPUOP_initialise / XEN_DOMCTL_setvcpucontext.
// Xen also sets MTRRdefType to write-back (enabled) on every vCPU of a PVH guest; that is
// the caller's business, as it is not part of this context.
vcpu_hvm_context_t pvh_vcpu_context(PvhLayout const& layout);

} // namespace kxen::toolstack::build
