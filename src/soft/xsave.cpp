// fxsave/fxrstor, xsave/xsaveopt/xrstor (standard form only) and xgetbv.
// Guest kernels restore FPU state with xrstor on every context switch, so it must be exact:
// components outside XSTATE_BV get their init values, MXCSR is loaded whenever SSE or AVX is
// requested (SDM vol. 1, 13.8.1), and a bad header is #GP. Components 2 and up are copied
// between guest memory and CpuState::xsave_ext at the host's CPUID offsets.
#include "soft/host_cpu.hpp"
#include "soft/table.hpp"
#include "soft/xsave_area.hpp"

namespace kxen::soft {
namespace {

unsigned xmm_count(Ctx const& c) { return c.d.long64 ? 16 : 8; }

std::uint64_t requested(Ctx const& c) {   // RFBM = XCR0 & EDX:EAX
    return c.s.xcr0 & ((c.s.gpr[rdx] & 0xffffffff) << 32 | (c.s.gpr[rax] & 0xffffffff));
}

// Components >= 2 of rfbm, checked to lie inside xsave_ext; unsupported otherwise (e.g. AMX
// tile data, which is past the 4 KiB KVM_GET_XSAVE region).
Got<std::uint64_t> ext_components(std::uint64_t rfbm) {
    std::uint64_t const ext = rfbm & ~3ull;
    for (unsigned i = 2; i < 63; ++i) {
        if (!((ext >> i) & 1)) continue;
        auto comp = xsave_component(i);
        if (!comp || comp->offset < xsave_ext_offset || comp->offset + comp->size > kvm_xsave_size)
            return unsupported("XSAVE component " + std::to_string(i) + " is not emulated");
    }
    return ext;
}

Step fxsave(Ctx& c) {
    std::uint64_t const a = c.mem_addr();
    if (auto r = c.aligned(a, 16, "fxsave"); !r) return r;
    std::uint8_t area[xsave_legacy_size];
    if (auto r = c.read(a, area, sizeof area); !r) return r;   // keep bytes fxsave leaves alone
    put_legacy(c.s, area, {true, true, true, c.d.rex_w(), xmm_count(c)});
    return c.write(a, area, sizeof area);
}

Step fxrstor(Ctx& c) {
    std::uint64_t const a = c.mem_addr();
    if (auto r = c.aligned(a, 16, "fxrstor"); !r) return r;
    std::uint8_t area[xsave_legacy_size];
    if (auto r = c.read(a, area, sizeof area); !r) return r;
    if (legacy_mxcsr(area) & ~mxcsr_mask()) return fault(vec::gp, "#GP: fxrstor sets reserved MXCSR bits");
    get_legacy(c.s, area, {true, true, true, c.d.rex_w(), xmm_count(c)});
    return {};
}

Step xsave(Ctx& c) {
    std::uint64_t const a = c.mem_addr();
    if (auto r = c.aligned(a, 64, "xsave"); !r) return r;
    std::uint64_t const rfbm = requested(c);
    auto ext = ext_components(rfbm);
    if (!ext) return std::unexpected(ext.error());

    std::uint8_t legacy[xsave_legacy_size];
    if (auto r = c.read(a, legacy, sizeof legacy); !r) return r;
    auto bv = c.load<std::uint64_t>(a + xsave_legacy_size);
    if (!bv) return std::unexpected(bv.error());
    put_legacy(c.s, legacy, {bool(rfbm & xfeature::x87), bool(rfbm & xfeature::sse),
                             bool(rfbm & (xfeature::sse | xfeature::avx)), c.d.rex_w(), xmm_count(c)});
    if (auto r = c.write(a, legacy, sizeof legacy); !r) return r;
    for (unsigned i = 2; i < 63; ++i) {
        if (!((*ext >> i) & 1)) continue;
        auto comp = *xsave_component(i);
        if (auto r = c.write(a + comp.offset, c.s.xsave_ext.data() + (comp.offset - xsave_ext_offset), comp.size); !r)
            return r;
    }
    // Only XSTATE_BV of the header is written, and only its RFBM bits.
    return c.store(a + xsave_legacy_size, (*bv & ~rfbm) | (xinuse(c.s) & rfbm));
}

Step xrstor(Ctx& c) {
    std::uint64_t const a = c.mem_addr();
    if (auto r = c.aligned(a, 64, "xrstor"); !r) return r;
    std::uint64_t hdr[8];
    if (auto r = c.read(a + xsave_legacy_size, hdr, sizeof hdr); !r) return r;
    std::uint64_t const bv = hdr[0], xcomp_bv = hdr[1];
    if (xcomp_bv >> 63) return unsupported("compacted-format xrstor is not emulated");
    if (bv & ~c.s.xcr0) return fault(vec::gp, "#GP: xrstor XSTATE_BV has bits not in XCR0");
    if (hdr[1] || hdr[2]) return fault(vec::gp, "#GP: xrstor header bytes 8..23 not zero");
    std::uint64_t const rfbm = requested(c);
    auto ext = ext_components(rfbm);
    if (!ext) return std::unexpected(ext.error());

    if (rfbm & (xfeature::x87 | xfeature::sse | xfeature::avx)) {
        std::uint8_t legacy[xsave_legacy_size];
        if (auto r = c.read(a, legacy, sizeof legacy); !r) return r;
        bool const mxcsr = rfbm & (xfeature::sse | xfeature::avx);   // regardless of XSTATE_BV
        if (mxcsr && (legacy_mxcsr(legacy) & ~mxcsr_mask()))
            return fault(vec::gp, "#GP: xrstor sets reserved MXCSR bits");
        if ((rfbm & xfeature::x87) && !(bv & xfeature::x87)) init_x87(c.s);
        if ((rfbm & xfeature::sse) && !(bv & xfeature::sse)) init_sse(c.s, xmm_count(c));
        get_legacy(c.s, legacy, {bool(rfbm & bv & xfeature::x87), bool(rfbm & bv & xfeature::sse), mxcsr,
                                 c.d.rex_w(), xmm_count(c)});
    }
    for (unsigned i = 2; i < 63; ++i) {
        if (!((*ext >> i) & 1)) continue;
        auto const comp = *xsave_component(i);
        std::uint8_t* const dst = c.s.xsave_ext.data() + (comp.offset - xsave_ext_offset);
        if ((bv >> i) & 1) {
            if (auto r = c.read(a + comp.offset, dst, comp.size); !r) return r;
            c.s.xsave_ext_bv |= 1ull << i;
        } else {
            std::memset(dst, 0, comp.size);   // every user component's init value is all zeros
            c.s.xsave_ext_bv &= ~(1ull << i);
        }
    }
    return {};
}

Step xgetbv(Ctx& c) {
    if (!(c.s.cr4 & cr4::osxsave)) return fault(vec::ud, "#UD: xgetbv with CR4.OSXSAVE clear");
    std::uint64_t v;
    switch (c.s.gpr[rcx] & 0xffffffff) {
    case 0: v = c.s.xcr0; break;
    case 1: v = c.s.xcr0 & xinuse(c.s); break;
    default: return fault(vec::gp, "#GP: xgetbv of an unknown XCR");
    }
    c.set(rax, 4, v & 0xffffffff);
    c.set(rdx, 4, v >> 32);
    return {};
}

// fxsave/fxrstor: #NM on CR0.TS or CR0.EM, exactly the x87 class check.
constexpr Row rows[] = {
    {.name = "fxsave", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 0, .w = W::w0, .cls = Class::x87, .fn = fxsave},
    {.name = "fxsave64", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 0, .w = W::w1, .cls = Class::x87, .fn = fxsave},
    {.name = "fxrstor", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 1, .w = W::w0, .cls = Class::x87, .fn = fxrstor},
    {.name = "fxrstor64", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 1, .w = W::w1, .cls = Class::x87, .fn = fxrstor},
    {.name = "xsave", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 4, .w = W::w0, .cls = Class::xsave, .fn = xsave},
    {.name = "xsave64", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 4, .w = W::w1, .cls = Class::xsave, .fn = xsave},
    {.name = "xrstor", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 5, .w = W::w0, .cls = Class::xsave, .fn = xrstor},
    {.name = "xrstor64", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 5, .w = W::w1, .cls = Class::xsave, .fn = xrstor},
    // xsaveopt may skip unmodified components; writing them all is a valid implementation.
    {.name = "xsaveopt", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 6, .w = W::w0, .cls = Class::xsave, .fn = xsave},
    {.name = "xsaveopt64", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 6, .w = W::w1, .cls = Class::xsave, .fn = xsave},
    {.name = "xgetbv", .opcode = 0x01, .mod = Mod::reg, .reg = 2, .rm = 0, .fn = xgetbv},
};

} // namespace

std::span<Row const> xsave_rows() { return rows; }

} // namespace kxen::soft
