// Descriptors and segment loads (SDM vol. 3 ch. 3 and 5; vol. 2 MOV, POP, LSS, IRET, RET), and
// the stack accesses that system instructions and event delivery make without a Ctx.
#include "soft/sys.hpp"
#include <cstdio>

namespace kxen::soft::sys {
namespace {

std::string sel_text(char const* what, std::uint16_t sel) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s (selector %#x)", what, sel);
    return buf;
}

std::unexpected<Result> gp_sel(std::uint16_t sel, char const* what) {
    return fault(vec::gp, sel & 0xfffc, sel_text(what, sel));
}

} // namespace

std::unexpected<Result> crash(std::string what) {
    return std::unexpected(Result{Outcome::crash, std::move(what), {}});
}

bool canonical(CpuState const& s, std::uint64_t a) {
    unsigned const bits = (s.cr4 & cr4::la57) ? 57 : 48;
    auto const v = static_cast<std::int64_t>(a << (64 - bits)) >> (64 - bits);
    return static_cast<std::uint64_t>(v) == a;
}

Step mem_read(CpuState const& s, Env& env, std::uint64_t gva, void* dst, std::size_t len, bool system) {
    if (s.long_mode && !canonical(s, gva)) return fault(vec::gp, 0, "#GP: non-canonical address");
    if (system) env.set_system(true);
    bool const ok = env.read(gva, dst, len);
    if (system) env.set_system(false);
    if (!ok) return page_fault(gva, false, !system && s.cpl == 3);
    return {};
}

Step mem_write(CpuState const& s, Env& env, std::uint64_t gva, void const* src, std::size_t len, bool system) {
    if (s.long_mode && !canonical(s, gva)) return fault(vec::gp, 0, "#GP: non-canonical address");
    if (system) env.set_system(true);
    bool const ok = env.write(gva, src, len);
    if (system) env.set_system(false);
    if (!ok) return page_fault(gva, true, !system && s.cpl == 3);
    return {};
}

Segment to_segment(std::uint64_t raw, std::uint16_t sel) {
    Desc const d{raw, 0};
    std::uint64_t const base = ((raw >> 16) & 0xffffff) | (((raw >> 56) & 0xff) << 24);
    std::uint32_t limit = static_cast<std::uint32_t>((raw & 0xffff) | (((raw >> 48) & 0xf) << 16));
    if (d.attr() & seg_attr::g) limit = (limit << 12) | 0xfff;
    return Segment{base, limit, sel, d.attr()};
}

Got<Desc> read_desc(CpuState const& s, Env& env, std::uint16_t sel, std::uint32_t ext) {
    bool const ldt = sel & 4;
    std::uint64_t base, limit;
    if (ldt) {
        if (!(s.ldtr.attr & seg_attr::p)) return fault(vec::gp, (sel & 0xfffc) | ext, sel_text("#GP: no LDT", sel));
        base = s.ldtr.base;
        limit = s.ldtr.limit;
    } else {
        base = s.gdtr.base;
        limit = s.gdtr.limit;
    }
    std::uint64_t const off = sel & ~7u;
    if (off + 7 > limit) return fault(vec::gp, (sel & 0xfffc) | ext, sel_text("#GP: selector beyond the table limit", sel));
    Desc d{0, base + off};
    if (!s.long_mode) d.addr &= 0xffffffff;
    if (auto r = mem_read(s, env, d.addr, &d.raw, 8, true); !r) return std::unexpected(r.error());
    return d;
}

Step set_accessed(CpuState const& s, Env& env, Desc& d) {
    if (!d.s() || (d.type() & 1)) return {};
    d.raw |= 1ull << 40;
    auto const b = static_cast<std::uint8_t>(d.raw >> 40);
    return mem_write(s, env, d.addr + 5, &b, 1, true);
}

Step load_data_segment(CpuState& s, Env& env, int seg, std::uint16_t sel) {
    if (seg == ss) {
        if ((sel & ~3u) == 0) {
            // 64-bit mode lets ring 0-2 run on a null SS (as interrupt delivery leaves it).
            if (!long64(s) || s.cpl == 3 || (sel & 3) != s.cpl) return fault(vec::gp, 0, "#GP: null SS");
            s.seg[ss] = Segment{0, 0, sel, static_cast<std::uint16_t>(s.cpl << 5)};
            return {};
        }
        if ((sel & 3) != s.cpl) return gp_sel(sel, "#GP: SS selector RPL != CPL");
        auto d = read_desc(s, env, sel);
        if (!d) return std::unexpected(d.error());
        if (!d->writable_data() || d->dpl() != s.cpl) return gp_sel(sel, "#GP: SS not a writable data segment of DPL CPL");
        if (!d->present()) return fault(vec::ss, sel & 0xfffc, sel_text("#SS: SS segment not present", sel));
        if (auto r = set_accessed(s, env, *d); !r) return r;
        s.seg[ss] = to_segment(d->raw, sel);
        return {};
    }
    if ((sel & ~3u) == 0) {
        s.seg[seg] = null_segment(sel);
        return {};
    }
    auto d = read_desc(s, env, sel);
    if (!d) return std::unexpected(d.error());
    if (!d->s() || !d->readable()) return gp_sel(sel, "#GP: not a data or readable code segment");
    if (!d->conforming() && ((sel & 3u) > d->dpl() || s.cpl > d->dpl())) return gp_sel(sel, "#GP: segment DPL below CPL or RPL");
    if (!d->present()) return fault(vec::np, sel & 0xfffc, sel_text("#NP: segment not present", sel));
    if (auto r = set_accessed(s, env, *d); !r) return r;
    s.seg[seg] = to_segment(d->raw, sel);
    return {};
}

Step load_stack_segment(CpuState& s, Env& env, std::uint16_t sel, unsigned cpl, bool to64) {
    if ((sel & ~3u) == 0) {
        if (!to64 || cpl == 3) return fault(vec::gp, 0, "#GP: return to a null SS");
        s.seg[ss] = Segment{0, 0, sel, static_cast<std::uint16_t>(cpl << 5)};
        return {};
    }
    if ((sel & 3) != cpl) return gp_sel(sel, "#GP: SS RPL != new CPL");
    auto d = read_desc(s, env, sel);
    if (!d) return std::unexpected(d.error());
    if (!d->writable_data() || d->dpl() != cpl) return gp_sel(sel, "#GP: SS not a writable data segment of the new CPL");
    if (!d->present()) return fault(vec::ss, sel & 0xfffc, sel_text("#SS: SS segment not present", sel));
    if (auto r = set_accessed(s, env, *d); !r) return r;
    s.seg[ss] = to_segment(d->raw, sel);
    return {};
}

Got<Desc> check_code_for_jump(CpuState const& s, Env& env, std::uint16_t sel) {
    if ((sel & ~3u) == 0) return fault(vec::gp, 0, "#GP: far transfer to a null selector");
    auto d = read_desc(s, env, sel);
    if (!d) return d;
    if (!d->s()) {
        unsigned const t = d->type();
        if (t == 4 || t == 5 || t == 12 || t == 1 || t == 9)
            return std::unexpected(Result{Outcome::unsupported, sel_text("far transfer through a call gate, task gate or TSS", sel), {}});
        return gp_sel(sel, "#GP: far transfer to a system segment");
    }
    if (!d->code()) return gp_sel(sel, "#GP: far transfer to a data segment");
    if (d->conforming() ? d->dpl() > s.cpl : ((sel & 3u) > s.cpl || d->dpl() != s.cpl))
        return gp_sel(sel, "#GP: far transfer to another privilege level");
    if (!d->present()) return fault(vec::np, sel & 0xfffc, sel_text("#NP: code segment not present", sel));
    if (s.long_mode && d->l() && d->db()) return gp_sel(sel, "#GP: code segment with L and D set");
    return d;
}

Got<Desc> check_code_for_return(CpuState const& s, Env& env, std::uint16_t sel) {
    if ((sel & ~3u) == 0) return fault(vec::gp, 0, "#GP: return to a null selector");
    auto d = read_desc(s, env, sel);
    if (!d) return d;
    unsigned const rpl = sel & 3;
    if (!d->code()) return gp_sel(sel, "#GP: return to a non-code segment");
    if (rpl < s.cpl) return gp_sel(sel, "#GP: return to an inner privilege level");
    if (d->conforming() ? d->dpl() > rpl : d->dpl() != rpl) return gp_sel(sel, "#GP: return CS DPL does not match its RPL");
    if (!d->present()) return fault(vec::np, sel & 0xfffc, sel_text("#NP: code segment not present", sel));
    if (s.long_mode && d->l() && d->db()) return gp_sel(sel, "#GP: code segment with L and D set");
    return d;
}

void sync_derived(CpuState& s) {
    s.long_mode = s.efer & efer_lma;
    s.cs_l = s.seg[cs].attr & seg_attr::l;
    s.cs_db = s.seg[cs].attr & seg_attr::db;
}

void set_cs(CpuState& s, Segment const& c, unsigned cpl) {
    s.seg[cs] = c;
    s.cpl = cpl;
    sync_derived(s);
}

void null_inaccessible(CpuState& s) {
    for (int i : {es, ds, fs, gs}) {
        auto const a = s.seg[i].attr;
        if (!(a & seg_attr::p)) continue;
        bool const conforming_code = (seg_attr::type(a) & 0xc) == 0xc;
        if (!conforming_code && seg_attr::dpl(a) < s.cpl) {
            // 64-bit code keeps FS/GS bases set through the MSRs.
            std::uint64_t const base = s.long_mode && (i == fs || i == gs) ? s.seg[i].base : 0;
            s.seg[i] = Segment{base, 0, 0, 0};
        }
    }
}

std::uint64_t stack_addr(CpuState const& s, std::uint64_t sp) {
    if (long64(s)) return sp;
    std::uint64_t const off = (s.seg[ss].attr & seg_attr::db) ? sp & 0xffffffff : sp & 0xffff;
    return (s.seg[ss].base + off) & 0xffffffff;
}

void set_sp(CpuState& s, std::uint64_t sp) {
    auto& r = s.gpr[rsp];
    if (long64(s))
        r = sp;
    else if (s.seg[ss].attr & seg_attr::db)
        r = sp & 0xffffffff;
    else
        r = (r & ~0xffffull) | (sp & 0xffff);
}

Step push(CpuState& s, Env& env, std::uint64_t v, unsigned size) {
    std::uint64_t const sp = s.gpr[rsp] - size;
    if (auto r = mem_write(s, env, stack_addr(s, sp), &v, size); !r) return r;
    set_sp(s, sp);
    return {};
}

Got<std::uint64_t> pop(CpuState& s, Env& env, unsigned size) {
    std::uint64_t v = 0;
    if (auto r = mem_read(s, env, stack_addr(s, s.gpr[rsp]), &v, size); !r) return std::unexpected(r.error());
    set_sp(s, s.gpr[rsp] + size);
    return v;
}

} // namespace kxen::soft::sys
