// The vCPU run loop: KVM_RUN, then one plain switch over the exit reason.
#include <cstring>
#include <fmt/format.h>
#include "common/log.hpp"
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"
#include "hv/compat/compat.hpp"
#include "hv/hypercall/hypercall.hpp"
#include "hv/sched/scheduler.hpp"
#include "hv/vcpu/cpuid.hpp"
#include "hv/vcpu/exits.hpp"
#include "hv/vcpu/guest_mem.hpp"

namespace kxen::hv {

bool vcpu_runnable(Vcpu const& v) {
    return v.up && !v.blocked && v.domain().can_run();
}

namespace {

bool upcall_pending(Vcpu& v) {
    auto* vi = v.info();
    return vi && __atomic_load_n(&vi->evtchn_upcall_pending, __ATOMIC_SEQ_CST);
}

// Xen's HVM callback vector is level-like: pending as long as evtchn_upcall_pending is set.
// KVM_INTERRUPT delivers even with IF=0 here, so only inject when the guest can take it.
void prepare_upcall(Vcpu& v) {
    auto& run = v.cpu().run_state();
    std::uint32_t vector = v.upcall_vector ? v.upcall_vector : v.domain().callback_vector();
    if (!vector || !upcall_pending(v)) {
        run.request_interrupt_window = 0;
        return;
    }
    if (run.ready_for_interrupt_injection && run.if_flag) {
        (void)v.cpu().interrupt(vector);
        run.request_interrupt_window = 0;
    } else {
        run.request_interrupt_window = 1;
    }
}

void set_runstate(Vcpu& v, int state, std::uint64_t now) {
    std::lock_guard g{v.runstate_mu};
    auto& r = v.runstate;
    if (r.state_entry_time && r.state >= 0 && r.state < 4) {
        auto spent = now - r.state_entry_time;
        r.time[r.state] += spent;
        if (r.state == RUNSTATE_running) v.cpu_time_ns += spent;
    }
    r.state = state;
    r.state_entry_time = now;
}

// A vCPU that sits on the same RIP across kicks and whose instruction there is vmcall/vmmcall
// will never come back on these hosts (DESIGN.md sec. 7).
bool stuck_on_vmcall(Vcpu& v) {
    if (v.domain().hv().accel().xen_hcall_exits()) return false;   // vmcall is a hypercall there
    auto rip = v.cpu().regs().rip;
    if (rip != v.last_kick_rip) {
        v.last_kick_rip = rip;
        v.same_rip_kicks = 0;
        return false;
    }
    if (++v.same_rip_kicks < 2) return false;
    GuestVirt mem{v};
    std::uint8_t b[3]{};
    if (!mem.read(rip, b, sizeof b)) return false;
    return b[0] == 0x0f && b[1] == 0x01 && (b[2] == 0xc1 || b[2] == 0xd9);
}

long dispatch_hypercall(Vcpu& v, GuestVirt& mem, unsigned cpl, bool compat, std::uint64_t nr, Args a) {
    Caller c{v.domain().hv(), &v.domain(), &v, mem, compat};
    if (compat)
        for (auto& x : a) x &= 0xffffffff;   // a 32-bit guest's registers; never a 64-bit address
    // As Xen: HVM hypercalls only from ring 0.
    long ret = cpl != 0 ? xen_ret(XenErr::perm) : compat ? compat::hypercall(c, nr, a) : hypercall(c, nr, a);
    log::debug("d{}v{}: hypercall {}({:#x}, {:#x}, {:#x}) = {}", v.domain().id(), v.id(), nr, a[0], a[1], a[2], ret);
    return ret;
}

// The hypercall page's `out` to hypercall_port.
void hypercall_exit(Vcpu& v) {
    auto& r = v.cpu().regs();
    GuestVirt mem{v};
    long ret;
    if (mem.long_mode_code()) {
        ret = dispatch_hypercall(v, mem, mem.cpl(), false, r.rax, {r.rdi, r.rsi, r.rdx, r.r10, r.r8});
    } else {
        // Xen's 32-bit ABI: arguments in ebx, ecx, edx, esi, edi; structures in x86_32 layout.
        ret = dispatch_hypercall(v, mem, mem.cpl(), true, r.rax & 0xffffffff, {r.rbx, r.rcx, r.rdx, r.rsi, r.rdi});
    }
    r.rax = static_cast<std::uint64_t>(ret);
    v.cpu().regs_dirty();
}

// vmcall/vmmcall as KVM_CAP_XEN_HVM's intercept reports them (the software vCPU does too):
// the accelerator decoded the register ABI and writes the result to RAX on resume.
void xen_hcall_exit(Vcpu& v) {
    auto& h = v.cpu().run_state().xen.u.hcall;
    GuestVirt mem{v};
    Args a{h.params[0], h.params[1], h.params[2], h.params[3], h.params[4]};
    long ret = dispatch_hypercall(v, mem, h.cpl, !h.longmode, h.input, a);
    h.result = h.longmode ? static_cast<std::uint64_t>(ret) : static_cast<std::uint32_t>(ret);
}

// false: the vCPU must leave the pCPU.
bool handle_exit(Vcpu& v) {
    auto& run = v.cpu().run_state();
    Domain& d = v.domain();
    switch (run.exit_reason) {
    case KVM_EXIT_IO:
        if (run.io.port == hypercall_port && run.io.direction == KVM_EXIT_IO_OUT) {
            hypercall_exit(v);
            return true;
        }
        // No emulated devices: reads see all-ones, writes are dropped, as on an empty bus.
        if (run.io.direction == KVM_EXIT_IO_IN)
            std::memset(reinterpret_cast<char*>(&run) + run.io.data_offset, 0xff,
                        std::size_t{run.io.size} * run.io.count);
        return true;
    case KVM_EXIT_MMIO:
        if (!run.mmio.is_write) std::memset(run.mmio.data, 0xff, sizeof run.mmio.data);
        return true;
    case KVM_EXIT_X86_WRMSR:
        run.msr.error = 1;
        if (run.msr.index == hypercall_msr && (run.msr.data & 0xfff) == 0) {
            run.msr.error = write_hypercall_page(d, run.msr.data) ? 0 : 1;
            // Xen's hvm_latch_shinfo_size: the guest's mode now picks its shared_info layout.
            d.set_shinfo_compat(!GuestVirt{v}.long_mode_code());
        }
        return true;
    case KVM_EXIT_X86_RDMSR:
        run.msr.error = 1;
        return true;
    case KVM_EXIT_HLT:
        log::debug("d{}v{}: hlt at {:#x} (if={})", d.id(), v.id(), v.cpu().regs().rip, run.if_flag);
        // HLT is how a guest idles without SCHEDOP_block; an event wakes it the same way.
        v.blocked = true;
        if (upcall_pending(v)) v.blocked = false;
        return !v.blocked;
    case KVM_EXIT_IRQ_WINDOW_OPEN:
        return true;
    case KVM_EXIT_XEN:
        if (run.xen.type == KVM_EXIT_XEN_HCALL) {
            xen_hcall_exit(v);
            return true;
        }
        d.crash(fmt::format("d{}v{}: unexpected Xen exit type {}", d.id(), v.id(), run.xen.type));
        return false;
    case KVM_EXIT_SHUTDOWN:
        d.crash(fmt::format("d{}v{}: triple fault at rip {:#x}", d.id(), v.id(), v.cpu().regs().rip));
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        if (run.internal.suberror == KVM_INTERNAL_ERROR_EMULATION) return emulation_failure_exit(v);
        if (auto why = v.cpu().internal_error(); !why.empty()) d.crash(fmt::format("d{}v{}: {}", d.id(), v.id(), why));
        else d.crash(fmt::format("d{}v{}: KVM internal error {} at rip {:#x}", d.id(), v.id(),
                                 run.internal.suberror, v.cpu().regs().rip));
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        d.crash(fmt::format("d{}v{}: VM entry failed (reason {:#x}) at rip {:#x}", d.id(), v.id(),
                            run.fail_entry.hardware_entry_failure_reason, v.cpu().regs().rip));
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        d.crash(fmt::format("d{}v{}: system event {}", d.id(), v.id(), run.system_event.type));
        return false;
    default:
        d.crash(fmt::format("d{}v{}: unhandled KVM exit {} at rip {:#x}", d.id(), v.id(),
                            run.exit_reason, v.cpu().regs().rip));
        return false;
    }
}

} // namespace

void run_vcpu(Vcpu& v) {
    Domain& d = v.domain();
    auto const& clock = d.hv().clock();
    if (auto* vi = v.info()) clock.update(vi->time);
    set_runstate(v, RUNSTATE_running, clock.system_time());
    while (vcpu_runnable(v) && !v.yield) {
        prepare_upcall(v);
        auto r = v.cpu().run();
        if (!r) {
            d.crash(fmt::format("d{}v{}: {}", d.id(), v.id(), r.error().message()));
            break;
        }
        if (!*r) {   // kicked
            if (stuck_on_vmcall(v)) {
                d.crash(fmt::format("d{}v{}: stuck on vmcall at rip {:#x}: this host has no "
                                    "KVM_CAP_XEN_HVM, so vmcall never completes; use the hypercall page",
                                    d.id(), v.id(), v.cpu().regs().rip));
                break;
            }
            continue;
        }
        v.same_rip_kicks = 0;
        if (!handle_exit(v)) break;
    }
    switch (v.cpu().run_state().exit_reason) {
    case KVM_EXIT_IO: case KVM_EXIT_MMIO: case KVM_EXIT_X86_RDMSR: case KVM_EXIT_X86_WRMSR: case KVM_EXIT_XEN:
        // Leave the registers as the guest's state after the instruction: a save, a
        // getvcpucontext or a suspend must not see it half done.
        if (vcpu_runnable(v) && !v.yield) break;
        (void)v.cpu().complete_pending();
        break;
    default: break;
    }
    int next = !v.up ? RUNSTATE_offline : v.blocked ? RUNSTATE_blocked : RUNSTATE_runnable;
    set_runstate(v, next, clock.system_time());
}

} // namespace kxen::hv
