#include <x86intrin.h>
#include <algorithm>
#include <cstring>
#include <memory>
#include <fmt/format.h>
#include "common/log.hpp"
#include "hv/domain/domain.hpp"
#include "soft/emulate.hpp"
#include "hv/vcpu/exits.hpp"
#include "hv/vcpu/guest_mem.hpp"

namespace kxen::hv {
namespace {

constexpr std::uint32_t msr_tsc_aux = 0xc0000103;

class VcpuEnv final : public soft::Env {
public:
    explicit VcpuEnv(Vcpu& v) : mem_{v}, v_{&v} {}
    bool read(std::uint64_t gva, void* dst, std::size_t len) override { return mem_.read(gva, dst, len); }
    bool write(std::uint64_t gva, void const* src, std::size_t len) override { return mem_.write(gva, src, len); }
    std::uint64_t rdtsc() override { return __rdtsc(); }   // guest TSC == host TSC (offset 0)
    // Other vCPUs of the guest run concurrently: do the compare-exchange on guest RAM itself.
    std::optional<bool> cmpxchg(std::uint64_t gva, void* expected, void const* desired, std::size_t len) override {
        if ((gva & 0xfff) + len > 4096 || (gva & (len - 1))) return Env::cmpxchg(gva, expected, desired, len);
        auto gpa = mem_.translate(gva, true);
        if (!gpa) return std::nullopt;
        auto* p = v_->domain().gpa_ptr(*gpa, len);
        if (!p) return std::nullopt;
        if (len == 8) {
            auto* e = static_cast<std::uint64_t*>(expected);
            std::uint64_t d;
            std::memcpy(&d, desired, 8);
            // SAFETY: p is 8-byte aligned (gva alignment == gpa alignment) guest RAM.
            bool ok = __atomic_compare_exchange_n(reinterpret_cast<std::uint64_t*>(p), e, d, false,
                                                  __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
            if (ok) v_->domain().mark_dirty(*gpa, len);
            return ok;
        }
        if (len == 16) {
            unsigned __int128 e, d;
            std::memcpy(&e, expected, 16);
            std::memcpy(&d, desired, 16);
            // SAFETY: 16-byte aligned guest RAM; the host has cmpxchg16b (x86-64-v2 and later).
            bool ok = __sync_bool_compare_and_swap(reinterpret_cast<unsigned __int128*>(p), e, d);
            if (!ok) std::memcpy(expected, p, 16);
            else v_->domain().mark_dirty(*gpa, len);
            return ok;
        }
        return Env::cmpxchg(gva, expected, desired, len);
    }

private:
    GuestVirt mem_;
    Vcpu* v_;
};

bool same_system_state(soft::CpuState const& a, soft::CpuState const& b) {
    return a.cr0 == b.cr0 && a.cr2 == b.cr2 && a.cr3 == b.cr3 && a.cr4 == b.cr4 && a.cr8 == b.cr8 &&
           a.efer == b.efer && a.cpl == b.cpl && std::equal(std::begin(a.seg), std::end(a.seg), std::begin(b.seg)) &&
           a.ldtr == b.ldtr && a.tr == b.tr && a.gdtr == b.gdtr && a.idtr == b.idtr &&
           std::equal(std::begin(a.dr), std::end(a.dr), std::begin(b.dr)) && a.msr == b.msr &&
           a.tsc_aux == b.tsc_aux && a.xcr0 == b.xcr0 && a.interrupt_shadow == b.interrupt_shadow;
}

void crash_with_bytes(Vcpu& v, std::span<std::uint8_t const> bytes, std::string const& why) {
    v.domain().crash(fmt::format("d{}v{}: cannot emulate at rip {:#x}: {} [{}]", v.domain().id(), v.id(),
                                 v.cpu().regs().rip, why, soft::describe(bytes)));
}

} // namespace

bool emulation_failure_exit(Vcpu& v) {
    auto& run = v.cpu().run_state();
    std::span<std::uint8_t const> bytes;
    if (run.emulation_failure.ndata >= 3 &&
        (run.emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
        bytes = {run.emulation_failure.insn_bytes,
                 std::min<std::size_t>(run.emulation_failure.insn_size, sizeof run.emulation_failure.insn_bytes)};

    auto& r = v.cpu().regs();
    auto sregs = v.cpu().get_sregs();
    auto xsave = std::make_unique<kvm_xsave>();
    auto xs_ok = v.cpu().get_xsave(*xsave);
    auto xcrs = v.cpu().get_xcrs();
    if (!sregs || !xs_ok || !xcrs) {
        crash_with_bytes(v, bytes, "cannot read vCPU state");
        return false;
    }
    soft::CpuState s{};
    std::uint64_t const g[16] = {r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
                                 r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
    std::memcpy(s.gpr, g, sizeof g);
    s.rip = r.rip;
    s.rflags = r.rflags;
    s.cr0 = sregs->cr0;
    s.cr4 = sregs->cr4;
    s.efer = sregs->efer;
    s.cpl = sregs->ss.dpl;   // cs.dpl is wrong for conforming code segments
    s.long_mode = sregs->efer & 0x400;
    s.cs_l = sregs->cs.l;
    s.cs_db = sregs->cs.db;
    kvm_segment const* segs[6] = {&sregs->es, &sregs->cs, &sregs->ss, &sregs->ds, &sregs->fs, &sregs->gs};
    for (int i = 0; i < 6; ++i) s.seg[i].base = segs[i]->base;
    // SAFETY: kvm_xsave.region is 4096 bytes of the standard-format XSAVE image.
    std::span<std::uint8_t> region{reinterpret_cast<std::uint8_t*>(xsave->region), sizeof xsave->region};
    soft::from_kvm_xsave(region, s);
    for (unsigned i = 0; i < xcrs->nr_xcrs; ++i)
        if (xcrs->xcrs[i].xcr == 0) s.xcr0 = xcrs->xcrs[i].value;
    if (auto aux = v.cpu().get_msr(msr_tsc_aux)) s.tsc_aux = *aux;

    // Without bytes from KVM, emulate() fetches them at CS:RIP through the guest page tables.
    VcpuEnv env{v};
    soft::CpuState const before = s;
    auto res = soft::emulate(bytes, s, env);
    if (res.outcome != soft::Outcome::done) {
        crash_with_bytes(v, bytes, res.outcome == soft::Outcome::exit ? "an instruction KVM itself must run" : res.what);
        return false;
    }
    // The state filled above is the user-visible part only; an instruction that changed
    // system state (segments, control registers, MSRs) would have done so on a zeroed copy,
    // and KVM runs those itself, so one reaching here is refused rather than half done.
    if (!same_system_state(before, s)) {
        crash_with_bytes(v, bytes, std::string(res.what) + " changes system state, which this path does not carry");
        return false;
    }
    r.rax = s.gpr[0]; r.rcx = s.gpr[1]; r.rdx = s.gpr[2]; r.rbx = s.gpr[3];
    r.rsp = s.gpr[4]; r.rbp = s.gpr[5]; r.rsi = s.gpr[6]; r.rdi = s.gpr[7];
    r.r8 = s.gpr[8]; r.r9 = s.gpr[9]; r.r10 = s.gpr[10]; r.r11 = s.gpr[11];
    r.r12 = s.gpr[12]; r.r13 = s.gpr[13]; r.r14 = s.gpr[14]; r.r15 = s.gpr[15];
    r.rip = s.rip;
    r.rflags = s.rflags;
    v.cpu().regs_dirty();
    if (res.xstate_changed) {
        soft::to_kvm_xsave(s, region);
        if (!v.cpu().set_xsave(*xsave)) {
            crash_with_bytes(v, bytes, "KVM_SET_XSAVE failed after emulation");
            return false;
        }
    }
    log::debug("d{}v{}: emulated {} at {:#x}", v.domain().id(), v.id(), res.what, s.rip);
    return true;
}

} // namespace kxen::hv
