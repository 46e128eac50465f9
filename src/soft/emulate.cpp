// emulate(): fetch and decode, find the row, apply the checks its class shares (SDM #UD/#NM
// conditions), run the handler on a copy of the state and commit the copy only when it completes.
#include <algorithm>
#include <cstring>
#include "soft/decode.hpp"
#include "soft/exec.hpp"

namespace kxen::soft {
namespace {

constexpr std::uint64_t rflags_rf = 1u << 16, rflags_vm = 1u << 17;

// The linear address of byte n of the instruction at RIP.
std::uint64_t fetch_addr(CpuState const& s, bool long64, unsigned n) {
    if (long64) return s.rip + n;
    std::uint64_t const ip_mask = s.cs_db ? 0xffffffff : 0xffff;
    return (s.seg[cs].base + ((s.rip + n) & ip_mask)) & 0xffffffff;
}

// Decodes, fetching bytes KVM did not report one at a time so that an instruction ending just
// before an unmapped page does not fault on that page.
struct Fetched {
    Decoded d;
    std::uint8_t bytes[15];   // the first d.length are the instruction's
};

Got<Fetched> fetch_decode(std::span<const std::uint8_t> bytes, CpuState const& s, Env& env) {
    bool const long64 = s.long_mode && s.cs_l;
    Fetched f{};
    std::uint8_t* const buf = f.bytes;
    std::size_t n = std::min(bytes.size(), sizeof f.bytes);
    std::copy_n(bytes.begin(), n, buf);
    for (;;) {
        switch (decode_into({buf, n}, long64, s.cs_db, f.d)) {
        case DecodeStatus::ok:
            return f;
        case DecodeStatus::too_long:
            return fault(vec::gp, "instruction longer than 15 bytes");
        case DecodeStatus::truncated:
            break;
        }
        std::uint64_t const gva = fetch_addr(s, long64, static_cast<unsigned>(n));
        if (!env.read(gva, &buf[n], 1)) return page_fault(gva, false, s.cpl == 3, true);
        ++n;
    }
}

Step class_checks(Row const& row, Decoded const& d, CpuState const& s) {
    if (d.lock && !(row.lockable && d.is_mem())) return fault(vec::ud, "#UD: lock prefix");
    if (row.mode == Mode::not64 && d.long64) return fault(vec::ud, "#UD: invalid in 64-bit mode");
    switch (row.cls) {
    case Class::none:
        return {};
    case Class::sse:
        if ((s.cr0 & cr0::em) || !(s.cr4 & cr4::osfxsr)) return fault(vec::ud, "#UD: SSE disabled (CR0.EM or !CR4.OSFXSR)");
        if (s.cr0 & cr0::ts) return fault(vec::nm, "#NM: CR0.TS set");
        return {};
    case Class::x87:
        if (s.cr0 & (cr0::em | cr0::ts)) return fault(vec::nm, "#NM: CR0.EM or CR0.TS set");
        return {};
    case Class::xsave:
        if (!(s.cr4 & cr4::osxsave)) return fault(vec::ud, "#UD: CR4.OSXSAVE clear");
        if (s.cr0 & cr0::ts) return fault(vec::nm, "#NM: CR0.TS set");
        return {};
    case Class::vex:
        if (d.vex_prefix_ud || d.vex_l || !(s.cr0 & 1) || (s.rflags & rflags_vm))
            return fault(vec::ud, "#UD: bad VEX form, or VEX in real/virtual-8086 mode");
        return {};
    }
    return {};
}

// After a handler completed: RIP to the next instruction unless the handler transferred
// control, and RF cleared, as once an instruction completes.
void finish(Decoded const& d, Ctx const& ctx, CpuState& s) {
    if (!ctx.jumped) {
        s.rip += d.length;
        if (!d.long64) s.rip &= s.cs_db ? 0xffffffff : 0xffff;
    }
    s.rflags &= ~rflags_rf;
}

bool same_xstate(CpuState const& a, CpuState const& b) {
    return std::equal(std::begin(a.xmm), std::end(a.xmm), std::begin(b.xmm)) && a.mxcsr == b.mxcsr &&
           std::memcmp(a.fpr, b.fpr, sizeof a.fpr) == 0 && a.fcw == b.fcw && a.fsw == b.fsw &&
           a.ftwx == b.ftwx && a.fop == b.fop && a.fip == b.fip && a.fdp == b.fdp &&
           a.xsave_ext == b.xsave_ext && a.xsave_ext_bv == b.xsave_ext_bv;
}

} // namespace

Result execute(Decoded const& d, Row const& row, CpuState& state, Env& env) {
    Step step = class_checks(row, d, state);
    if (!step) return step.error();
    if (row.in_place) {
        Ctx ctx{d, state, env};
        step = row.fn(ctx);
        if (!step) return step.error();
        finish(d, ctx, state);
        return {Outcome::done, {}};
    }
    CpuState next = state;
    Ctx ctx{d, next, env};
    step = row.fn(ctx);
    if (!step) return step.error();
    finish(d, ctx, next);
    state = next;
    return {Outcome::done, {}};
}

Result emulate(std::span<const std::uint8_t> bytes, CpuState& state, Env& env) {
    bool const long64 = state.long_mode && state.cs_l;
    auto f = fetch_decode(bytes, state, env);
    if (!f) return f.error();
    Decoded const* d = &f->d;
    // Logs name exactly the instruction's bytes, fetched ones included. Only built on failure:
    // done is the hot path.
    auto text = [&] { return describe({f->bytes, d->length}, long64, state.cs_db); };

    Row const* row = find_row(*d);
    if (!row) return {Outcome::unsupported, "unsupported instruction " + text()};

    CpuState const before = state;
    Result r = execute(*d, *row, state, env);
    if (r.outcome != Outcome::done) {
        if (r.outcome != Outcome::exit) r.what += " in " + text();
        return r;
    }
    r.what = row->name;
    r.xstate_changed = !same_xstate(before, state);
    return r;
}

} // namespace kxen::soft
