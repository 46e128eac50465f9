#include "diff_harness.hpp"
#include <unicorn/unicorn.h>
#include <cstdio>
#include <stdexcept>

namespace kxen::soft::diff {

std::string kind_name(Kind k) {
    switch (k) {
    case Kind::done: return "done";
    case Kind::fault: return "fault";
    case Kind::unsupported: return "unsupported";
    case Kind::other: return "other";
    }
    return "?";
}

std::string hex(u8 const* b, unsigned n) {
    std::string s;
    char buf[4];
    for (unsigned i = 0; i < n; ++i) {
        std::snprintf(buf, sizeof buf, i ? " %02x" : "%02x", b[i]);
        s += buf;
    }
    return s;
}

namespace {

constexpr int gpr64[16] = {UC_X86_REG_RAX, UC_X86_REG_RCX, UC_X86_REG_RDX, UC_X86_REG_RBX,
                           UC_X86_REG_RSP, UC_X86_REG_RBP, UC_X86_REG_RSI, UC_X86_REG_RDI,
                           UC_X86_REG_R8,  UC_X86_REG_R9,  UC_X86_REG_R10, UC_X86_REG_R11,
                           UC_X86_REG_R12, UC_X86_REG_R13, UC_X86_REG_R14, UC_X86_REG_R15};
constexpr int gpr32[8] = {UC_X86_REG_EAX, UC_X86_REG_ECX, UC_X86_REG_EDX, UC_X86_REG_EBX,
                          UC_X86_REG_ESP, UC_X86_REG_EBP, UC_X86_REG_ESI, UC_X86_REG_EDI};

uc_engine* E(void* p) { return static_cast<uc_engine*>(p); }

void check(uc_err e, char const* what) {
    if (e != UC_ERR_OK) throw std::runtime_error(std::string(what) + ": " + uc_strerror(e));
}

void hook_intr(uc_engine* uc, u32 intno, void* user) {
    auto* u = static_cast<Unicorn*>(user);
    if (u->intno < 0) u->intno = static_cast<int>(intno);
    uc_emu_stop(uc);
}

bool hook_unmapped(uc_engine*, uc_mem_type, u64 address, int, int64_t, void* user) {
    auto* u = static_cast<Unicorn*>(user);
    u->unmapped = true;
    u->unmapped_addr = address;
    return false;
}

} // namespace

Unicorn::Unicorn(bool long64) : long64_{long64} {
    uc_engine* uc = nullptr;
    check(uc_open(UC_ARCH_X86, long64 ? UC_MODE_64 : UC_MODE_32, &uc), "uc_open");
    uc_ = uc;
    // Haswell: POPCNT, LZCNT, BMI1/2, MOVBE, SSE4.2 are in CPUID, so QEMU decodes them as such
    // rather than as their legacy aliases (f3 0f bd as bsr ...).
    check(uc_ctl_set_cpu_model(uc, UC_CPU_X86_HASWELL), "cpu model");
    check(uc_mem_map(uc, code_base, code_size, UC_PROT_ALL), "map code");
    check(uc_mem_map(uc, data_base, data_size, UC_PROT_READ | UC_PROT_WRITE), "map data");
    // hlt after the instruction: a wrong length or a stray jump stops there, never runs on.
    std::vector<u8> fill(code_size, 0xf4);
    check(uc_mem_write(uc, code_base, fill.data(), fill.size()), "fill code");
    uc_hook h;
    check(uc_hook_add(uc, &h, UC_HOOK_INTR, reinterpret_cast<void*>(hook_intr), this, 1, 0), "hook intr");
    check(uc_hook_add(uc, &h, UC_HOOK_MEM_UNMAPPED, reinterpret_cast<void*>(hook_unmapped), this, 1, 0),
          "hook unmapped");
    // OSFXSR|OSXMMEXCPT as in the kxen state (Unicorn starts with CR4 = 0).
    u64 cr4 = 0x600;
    check(uc_reg_write(uc, UC_X86_REG_CR4, &cr4), "cr4");
    // With a UC_HOOK_INTR hook QEMU never delivers the exception, so its "exception in flight"
    // (CPUX86State::old_exception) stays set: the next #DE becomes #DF, the one after a triple
    // fault that ends the run quietly. Every case starts from this saved CPU instead.
    uc_context* ctx = nullptr;
    check(uc_context_alloc(uc, &ctx), "context alloc");
    ctx_ = ctx;
    check(uc_context_save(uc, ctx), "context save");
}

Unicorn::~Unicorn() {
    uc_context_free(static_cast<uc_context*>(ctx_));
    uc_close(E(uc_));
}

void Unicorn::put_state(Machine const& m) {
    uc_engine* uc = E(uc_);
    if (long64_) {
        for (int i = 0; i < 16; ++i) uc_reg_write(uc, gpr64[i], &m.gpr[i]);
        uc_reg_write(uc, UC_X86_REG_RFLAGS, &m.rflags);
    } else {
        for (int i = 0; i < 8; ++i) {
            u32 v = static_cast<u32>(m.gpr[i]);
            uc_reg_write(uc, gpr32[i], &v);
        }
        u32 f = static_cast<u32>(m.rflags);
        uc_reg_write(uc, UC_X86_REG_EFLAGS, &f);
    }
    int const nxmm = long64_ ? 16 : 8;
    for (int i = 0; i < nxmm; ++i) uc_reg_write(uc, UC_X86_REG_XMM0 + i, &m.xmm[i]);
    uc_reg_write(uc, UC_X86_REG_MXCSR, &m.mxcsr);
    for (int i = 0; i < 8; ++i) uc_reg_write(uc, UC_X86_REG_FP0 + i, m.fpr[i]);
    uc_reg_write(uc, UC_X86_REG_FPCW, &m.fcw);
    uc_reg_write(uc, UC_X86_REG_FPSW, &m.fsw);
    u16 tag = 0;
    for (int i = 0; i < 8; ++i)
        if (!(m.ftags >> i & 1)) tag |= 3u << (2 * i);
    uc_reg_write(uc, UC_X86_REG_FPTAG, &tag);
    uc_mem_write(uc, data_base, m.data.data(), data_size);
}

void Unicorn::get_state(Machine& m) {
    uc_engine* uc = E(uc_);
    if (long64_) {
        for (int i = 0; i < 16; ++i) uc_reg_read(uc, gpr64[i], &m.gpr[i]);
        uc_reg_read(uc, UC_X86_REG_RFLAGS, &m.rflags);
        uc_reg_read(uc, UC_X86_REG_RIP, &m.rip);
    } else {
        for (int i = 0; i < 8; ++i) {
            u32 v = 0;
            uc_reg_read(uc, gpr32[i], &v);
            m.gpr[i] = v;
        }
        u32 f = 0, ip = 0;
        uc_reg_read(uc, UC_X86_REG_EFLAGS, &f);
        uc_reg_read(uc, UC_X86_REG_EIP, &ip);
        m.rflags = f;
        m.rip = ip;
    }
    int const nxmm = long64_ ? 16 : 8;
    for (int i = 0; i < nxmm; ++i) uc_reg_read(uc, UC_X86_REG_XMM0 + i, &m.xmm[i]);
    uc_reg_read(uc, UC_X86_REG_MXCSR, &m.mxcsr);
    for (int i = 0; i < 8; ++i) uc_reg_read(uc, UC_X86_REG_FP0 + i, m.fpr[i]);
    uc_reg_read(uc, UC_X86_REG_FPCW, &m.fcw);
    uc_reg_read(uc, UC_X86_REG_FPSW, &m.fsw);
    u16 tag = 0;
    uc_reg_read(uc, UC_X86_REG_FPTAG, &tag);
    m.ftags = 0;
    for (int i = 0; i < 8; ++i)
        if (((tag >> (2 * i)) & 3) != 3) m.ftags |= u8(1u << i);
    uc_mem_read(uc, data_base, m.data.data(), data_size);
}

RunResult Unicorn::run(Case const& c) {
    uc_engine* uc = E(uc_);
    uc_context_restore(uc, static_cast<uc_context*>(ctx_));
    put_state(c.m);
    u8 code[code_slot];
    std::memcpy(code, c.bytes, c.len);
    std::memset(code + c.len, 0xf4, sizeof code - c.len);
    uc_mem_write(uc, c.m.rip, code, sizeof code);
    intno = -1;
    unmapped = false;
    // Stopping at begin+length rather than after one counted instruction (count = 1): the
    // count makes Unicorn stop a rep string instruction after its first iteration, and the hlt
    // after the slot stops anything that would run on.
    uc_err const e = uc_emu_start(uc, c.m.rip, c.m.rip + c.len, 0, 0);
    RunResult o;
    o.m = c.m;
    get_state(o.m);
    if (intno >= 0) {
        o.kind = Kind::fault;
        o.vector = intno;
        o.what = "interrupt " + std::to_string(intno);
    } else if (e == UC_ERR_READ_UNMAPPED || e == UC_ERR_WRITE_UNMAPPED || e == UC_ERR_FETCH_UNMAPPED ||
               (e != UC_ERR_OK && unmapped)) {
        o.kind = Kind::fault;
        o.vector = 14;
        o.address = unmapped_addr;
        o.what = uc_strerror(e);
    } else if (e == UC_ERR_INSN_INVALID) {
        o.kind = Kind::fault;
        o.vector = 6;
        o.what = uc_strerror(e);
    } else if (e != UC_ERR_OK) {
        o.kind = Kind::other;
        o.what = uc_strerror(e);
    } else {
        o.kind = Kind::done;
    }
    return o;
}

namespace {

// Guest memory: the code page and the data area; anything else is unmapped.
class PagesEnv : public Env {
public:
    PagesEnv(Case const& c, Machine& m) : m_{m}, code_at_{c.m.rip} {
        std::memset(code_, 0xf4, sizeof code_);
        std::memcpy(code_, c.bytes, c.len);
    }
    bool read(u64 gva, void* dst, std::size_t len) override {
        if (u8* p = at(gva, len, false)) {
            std::memcpy(dst, p, len);
            return true;
        }
        refused(gva, len, false);
        return false;
    }
    bool write(u64 gva, void const* src, std::size_t len) override {
        if (u8* p = at(gva, len, true)) {
            std::memcpy(p, src, len);
            return true;
        }
        refused(gva, len, true);
        return false;
    }
    u64 rdtsc() override { return 0; }

    // The first byte of the refused access that is not mapped, as the vCPU's MMU reports it
    // (CR2 of a split access is the start of the page that faulted, not the operand's start).
    u64 pf_addr = 0;

private:
    void refused(u64 gva, std::size_t len, bool write) {
        pf_addr = gva;
        for (std::size_t i = 0; i < len; ++i)
            if (!at(gva + i, 1, write)) {
                pf_addr = gva + i;
                return;
            }
    }
    u8* at(u64 gva, std::size_t len, bool write) {
        if (gva >= data_base && len <= data_size && gva - data_base <= data_size - len)
            return &m_.data[gva - data_base];
        if (!write && gva >= code_at_ && len <= code_slot && gva - code_at_ <= code_slot - len)
            return &code_[gva - code_at_];
        return nullptr;
    }
    Machine& m_;
    u64 code_at_;
    u8 code_[code_slot];
};

CpuState to_cpu(Case const& c) {
    CpuState s{};
    s.cr0 = 0x80050033;
    s.cr4 = 0x40620;
    s.xcr0 = 3;
    s.long_mode = s.cs_l = c.long64;
    s.cs_db = !c.long64;
    s.efer = c.long64 ? 0xd01 : 0;
    u16 const code_attr = c.long64 ? 0xa9b : 0xc9b;
    for (int i = 0; i < 6; ++i) s.seg[i] = {0, 0xffffffff, 0x10, 0xc93};
    s.seg[1] = {0, 0xffffffff, 0x08, code_attr};
    Machine const& m = c.m;
    std::memcpy(s.gpr, m.gpr, sizeof s.gpr);
    s.rip = m.rip;
    s.rflags = m.rflags;
    std::memcpy(s.xmm, m.xmm, sizeof s.xmm);
    s.mxcsr = m.mxcsr;
    unsigned const top = (m.fsw >> 11) & 7;
    for (unsigned i = 0; i < 8; ++i) std::memcpy(s.fpr[i], m.fpr[(top + i) & 7], 10);
    s.fcw = m.fcw;
    s.fsw = m.fsw;
    s.ftwx = m.ftags;
    return s;
}

void from_cpu(CpuState const& s, Machine& m) {
    std::memcpy(m.gpr, s.gpr, sizeof m.gpr);
    m.rip = s.rip;
    m.rflags = s.rflags;
    std::memcpy(m.xmm, s.xmm, sizeof m.xmm);
    m.mxcsr = s.mxcsr;
    unsigned const top = (s.fsw >> 11) & 7;
    for (unsigned i = 0; i < 8; ++i) std::memcpy(m.fpr[(top + i) & 7], s.fpr[i], 10);
    m.fcw = s.fcw;
    m.fsw = s.fsw;
    m.ftags = s.ftwx;
}

} // namespace

RunResult run_kxen(Case const& c) {
    RunResult o;
    o.m = c.m;
    PagesEnv env{c, o.m};
    CpuState s = to_cpu(c);
    // emulate() may complete a rep string instruction in several calls (RIP unchanged in
    // between, as after an interrupt window); keep calling while it does.
    for (int step = 0; step < 4096; ++step) {
        Result r = emulate({c.bytes, c.len}, s, env);
        switch (r.outcome) {
        case soft::Outcome::done:
            o.kind = Kind::done;
            break;
        case soft::Outcome::fault:
            o.kind = Kind::fault;
            o.vector = r.fault.vector;
            o.address = r.fault.vector == 14 ? env.pf_addr : r.fault.address;
            break;
        case soft::Outcome::unsupported:
            o.kind = Kind::unsupported;
            break;
        default:
            o.kind = Kind::other;
            break;
        }
        o.what = r.what;
        if (r.outcome != soft::Outcome::done || s.rip != c.m.rip || !c.string_op) break;
    }
    from_cpu(s, o.m);
    return o;
}

} // namespace kxen::soft::diff
