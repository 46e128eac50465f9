// The software accelerator: accel::Accel over soft::Cpu, for hosts without KVM.
#include <x86intrin.h>
#include <cstring>
#include <ctime>
#include <mutex>
#include <thread>
#include "accel/accel.hpp"
#include "soft/cpu.hpp"
#include "soft/cpuid_model.hpp"
#include "soft/regs.hpp"

namespace kxen::accel {
namespace {

using soft::CpuState;
using soft::Segment;

kvm_segment to_kvm(Segment const& g) {
    kvm_segment k{};
    k.base = g.base;
    k.limit = g.limit;
    k.selector = g.sel;
    k.type = g.attr & 0xf;
    k.s = (g.attr >> 4) & 1;
    k.dpl = (g.attr >> 5) & 3;
    k.present = (g.attr >> 7) & 1;
    k.avl = (g.attr >> 8) & 1;
    k.l = (g.attr >> 9) & 1;
    k.db = (g.attr >> 10) & 1;
    k.g = (g.attr >> 11) & 1;
    k.unusable = !k.present;
    return k;
}

Segment from_kvm(kvm_segment const& k) {
    Segment g{};
    g.base = k.base;
    g.limit = k.limit;
    g.sel = k.selector;
    if (!k.unusable)
        g.attr = static_cast<std::uint16_t>((k.type & 0xf) | (k.s & 1) << 4 | (k.dpl & 3) << 5 | (k.present & 1) << 7 |
                                            (k.avl & 1) << 8 | (k.l & 1) << 9 | (k.db & 1) << 10 | (k.g & 1) << 11);
    return g;
}

// The MSRs the software vCPU keeps, by index, for KVM_GET/SET_MSRS.
std::uint64_t* msr_field(CpuState& s, std::uint32_t index) {
    switch (index) {
    case 0xc0000080: return &s.efer;
    case 0xc0000081: return &s.msr.star;
    case 0xc0000082: return &s.msr.lstar;
    case 0xc0000083: return &s.msr.cstar;
    case 0xc0000084: return &s.msr.sfmask;
    case 0xc0000100: return &s.seg[soft::fs].base;
    case 0xc0000101: return &s.seg[soft::gs].base;
    case 0xc0000102: return &s.msr.kernel_gs_base;
    case 0xc0000103: return &s.tsc_aux;
    case 0x174: return &s.msr.sysenter_cs;
    case 0x175: return &s.msr.sysenter_esp;
    case 0x176: return &s.msr.sysenter_eip;
    case 0x277: return &s.msr.pat;
    case 0x1a0: return &s.msr.misc_enable;
    case 0x1b: return &s.msr.apic_base;
    default: return nullptr;
    }
}

class SoftVcpu final : public Vcpu {
public:
    SoftVcpu(soft::PhysMem& phys, unsigned id, std::vector<std::pair<std::uint32_t, std::uint32_t>> const& filter)
        : cpu_{phys, id} {
        run_ = cpu_.run_state();
        cpu_.mmu().msr_filter = filter;
    }
    SysResult<bool> run() override {
        std::lock_guard g{mu_};
        return cpu_.run();
    }
    void request_exit() override { cpu_.kick(); }
    SysResult<void> complete_pending() override {
        std::lock_guard g{mu_};
        cpu_.complete_pending();
        return {};
    }
    SysResult<kvm_sregs> get_sregs() override {
        std::lock_guard g{mu_};
        auto const& s = cpu_.state();
        kvm_sregs k{};
        k.es = to_kvm(s.seg[soft::es]); k.cs = to_kvm(s.seg[soft::cs]); k.ss = to_kvm(s.seg[soft::ss]);
        k.ds = to_kvm(s.seg[soft::ds]); k.fs = to_kvm(s.seg[soft::fs]); k.gs = to_kvm(s.seg[soft::gs]);
        k.tr = to_kvm(s.tr);
        k.ldt = to_kvm(s.ldtr);
        k.gdt = {s.gdtr.base, s.gdtr.limit, {}};
        k.idt = {s.idtr.base, s.idtr.limit, {}};
        k.cr0 = s.cr0; k.cr2 = s.cr2; k.cr3 = s.cr3; k.cr4 = s.cr4; k.cr8 = s.cr8;
        k.efer = s.efer;
        k.apic_base = s.msr.apic_base;
        return k;
    }
    SysResult<void> set_sregs(kvm_sregs const& k) override {
        std::lock_guard g{mu_};
        auto& s = cpu_.state();
        s.seg[soft::es] = from_kvm(k.es); s.seg[soft::cs] = from_kvm(k.cs); s.seg[soft::ss] = from_kvm(k.ss);
        s.seg[soft::ds] = from_kvm(k.ds); s.seg[soft::fs] = from_kvm(k.fs); s.seg[soft::gs] = from_kvm(k.gs);
        s.tr = from_kvm(k.tr);
        s.ldtr = from_kvm(k.ldt);
        s.gdtr = {k.gdt.base, k.gdt.limit};
        s.idtr = {k.idt.base, k.idt.limit};
        s.cr0 = k.cr0; s.cr2 = k.cr2; s.cr3 = k.cr3; s.cr4 = k.cr4; s.cr8 = k.cr8;
        s.efer = k.efer;
        if ((s.cr0 & 1) == 0) return sys_fail(EINVAL, "soft vCPU: real mode is not supported");
        s.cpl = k.ss.dpl;
        s.long_mode = (k.efer >> 10) & 1;
        s.cs_l = k.cs.l;
        s.cs_db = k.cs.db;
        cpu_.mmu().tlb_flush(true);
        return {};
    }
    SysResult<kvm_fpu> get_fpu() override {
        std::lock_guard g{mu_};
        auto const& s = cpu_.state();
        kvm_fpu f{};
        std::memcpy(f.fpr, s.fpr, sizeof f.fpr);
        f.fcw = s.fcw; f.fsw = s.fsw; f.ftwx = s.ftwx; f.last_opcode = s.fop;
        f.last_ip = s.fip; f.last_dp = s.fdp;
        std::memcpy(f.xmm, s.xmm, sizeof f.xmm);
        f.mxcsr = s.mxcsr;
        return f;
    }
    SysResult<void> set_fpu(kvm_fpu const& f) override {
        std::lock_guard g{mu_};
        auto& s = cpu_.state();
        std::memcpy(s.fpr, f.fpr, sizeof f.fpr);
        s.fcw = f.fcw; s.fsw = f.fsw; s.ftwx = f.ftwx; s.fop = f.last_opcode;
        s.fip = f.last_ip; s.fdp = f.last_dp;
        std::memcpy(s.xmm, f.xmm, sizeof f.xmm);
        s.mxcsr = f.mxcsr;
        return {};
    }
    SysResult<void> get_xsave(kvm_xsave& out) override {
        std::lock_guard g{mu_};
        std::memset(&out, 0, sizeof out);
        soft::to_kvm_xsave(cpu_.state(), {reinterpret_cast<std::uint8_t*>(out.region), sizeof out.region});
        return {};
    }
    SysResult<void> set_xsave(kvm_xsave const& x) override {
        std::lock_guard g{mu_};
        soft::from_kvm_xsave({reinterpret_cast<std::uint8_t const*>(x.region), sizeof x.region}, cpu_.state());
        return {};
    }
    SysResult<kvm_xcrs> get_xcrs() override {
        std::lock_guard g{mu_};
        kvm_xcrs x{};
        x.nr_xcrs = 1;
        x.xcrs[0].xcr = 0;
        x.xcrs[0].value = cpu_.state().xcr0;
        return x;
    }
    SysResult<std::uint64_t> get_msr(std::uint32_t index) override {
        std::lock_guard g{mu_};
        if (index == 0x10) return __rdtsc() + cpu_.state().msr.tsc_offset;
        auto* p = msr_field(cpu_.state(), index);
        if (!p) return sys_fail(EINVAL, "soft vCPU: no MSR " + std::to_string(index));
        return *p;
    }
    SysResult<void> set_msr(std::uint32_t index, std::uint64_t value) override {
        std::lock_guard g{mu_};
        if (index == 0x10) {
            cpu_.state().msr.tsc_offset = value - __rdtsc();
            return {};
        }
        auto* p = msr_field(cpu_.state(), index);
        if (!p) return sys_fail(EINVAL, "soft vCPU: no MSR " + std::to_string(index));
        *p = value;
        return {};
    }
    SysResult<void> set_cpuid(std::span<kvm_cpuid_entry2 const> entries) override {
        std::lock_guard g{mu_};
        cpu_.cpuid.assign(entries.begin(), entries.end());
        return {};
    }
    SysResult<void> interrupt(unsigned vector) override {
        std::lock_guard g{mu_};
        if (vector > 255) return sys_fail(EINVAL, "KVM_INTERRUPT");
        cpu_.interrupt(static_cast<std::uint8_t>(vector));
        return {};
    }
    std::string internal_error() const override { return cpu_.internal_error(); }

private:
    // run() and the state accessors come from the vCPU's own thread in kxend, but a
    // getvcpucontext from the toolstack may not; the lock keeps them apart (kicks need none).
    std::mutex mu_;
    soft::Cpu cpu_;
};

class SoftVm final : public Vm {
public:
    SysResult<void> set_memslot(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size, void* hva,
                                std::uint32_t flags) override {
        if ((gpa | size) & 0xfff) return sys_fail(EINVAL, "set_memslot: not page aligned");
        if (!phys_.set_slot(slot, gpa, size, static_cast<std::uint8_t*>(hva), flags & KVM_MEM_LOG_DIRTY_PAGES))
            return sys_fail(EEXIST, "set_memslot: overlaps another slot");
        return {};
    }
    SysResult<void> set_msr_filter(std::span<MsrRange const> ranges) override {
        filter_.clear();
        for (auto const& r : ranges)
            if (r.write) filter_.emplace_back(r.base, r.count);
        return {};
    }
    SysResult<void> get_dirty_log(std::uint32_t slot, std::span<std::uint64_t> bitmap) override {
        if (!phys_.get_dirty_log(slot, bitmap)) return sys_fail(ENOENT, "get_dirty_log: slot does not log");
        return {};
    }
    SysResult<std::unique_ptr<Vcpu>> create_vcpu(unsigned id) override {
        return std::make_unique<SoftVcpu>(phys_, id, filter_);
    }

private:
    soft::PhysMem phys_;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> filter_;
};

// The TSC's rate, measured against CLOCK_MONOTONIC_RAW over 20 ms.
std::uint64_t measure_tsc_khz() {
    timespec a{}, b{};
    ::clock_gettime(CLOCK_MONOTONIC_RAW, &a);
    std::uint64_t const t0 = __rdtsc();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::clock_gettime(CLOCK_MONOTONIC_RAW, &b);
    std::uint64_t const t1 = __rdtsc();
    double const ns = double(b.tv_sec - a.tv_sec) * 1e9 + double(b.tv_nsec - a.tv_nsec);
    return static_cast<std::uint64_t>(double(t1 - t0) / ns * 1e6);
}

class SoftAccel final : public Accel {
public:
    SoftAccel() : cpuid_{soft::cpuid_model()}, khz_{measure_tsc_khz()} {}
    char const* name() const override { return "soft"; }
    std::vector<kvm_cpuid_entry2> const& supported_cpuid() const override { return cpuid_; }
    std::uint64_t tsc_khz() const override { return khz_; }
    bool xen_hcall_exits() const override { return true; }
    SysResult<std::unique_ptr<Vm>> create_vm() override { return std::make_unique<SoftVm>(); }

private:
    std::vector<kvm_cpuid_entry2> cpuid_;
    std::uint64_t khz_;
};

} // namespace

SysResult<std::unique_ptr<Accel>> open_soft() { return std::make_unique<SoftAccel>(); }

} // namespace kxen::accel
